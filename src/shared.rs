//! One lazily started instance per hale process of something several parts use (the Docker
//! watcher, the health model): the first user starts it, everyone gets the same `Arc`, and
//! nothing runs for a part that is never used.

use std::sync::{Arc, OnceLock};

/// A cheaply cloned handle to the one instance of `T`.
pub struct Shared<T>(Arc<OnceLock<Arc<T>>>);

impl<T> Shared<T> {
    /// The instance, started by `start` if this is the first call.
    pub fn get_or_start(&self, start: impl FnOnce() -> Arc<T>) -> Arc<T> {
        Arc::clone(self.0.get_or_init(start))
    }
}

impl<T> Shared<T> {
    /// The instance, if something started it.
    pub fn get(&self) -> Option<Arc<T>> {
        self.0.get().map(Arc::clone)
    }
}

impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<T> Default for Shared<T> {
    fn default() -> Self {
        Self(Arc::new(OnceLock::new()))
    }
}

impl<T> std::fmt::Debug for Shared<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = if self.0.get().is_some() {
            "started"
        } else {
            "not started"
        };
        write!(f, "Shared<{}>({state})", std::any::type_name::<T>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_the_one_instance_started_once() {
        let a: Shared<u32> = Shared::default();
        let b = a.clone();
        let mut starts = 0;
        let first = a.get_or_start(|| {
            starts += 1;
            Arc::new(7)
        });
        let second = b.get_or_start(|| Arc::new(8));
        assert!(Arc::ptr_eq(&first, &second));
        assert_eq!((*second, starts), (7, 1));
    }
}
