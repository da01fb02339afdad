//! A long-running part of hale (the Docker watcher, the health sampler and probes, healing's
//! pruning and autoheal) as its constructor hands it over: a future that runs until hale
//! stops. Nothing spawns itself; [`crate::app`] collects them and `main.rs` owns them.

use std::future::Future;
use std::pin::Pin;

/// A long-running part of hale: it runs until hale stops (it never returns by design).
pub type Task = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;
