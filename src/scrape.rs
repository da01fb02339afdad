//! One scrape: run every enabled collector in parallel on the blocking pool, each under a time
//! budget, and report `hale_scrape_collector_success` / `_duration_seconds` per collector plus
//! `hale_build_info`. A collector that runs past the budget is reported failed and the scrape goes
//! on without it; its thread is left to finish, and until it does, that collector is not started
//! again (unless it can skip what is stuck itself), so a dead mount cannot pile up threads.

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::collector::Collector;
use crate::metric::{MetricFamily, Unit};

/// One enabled collector and its stuck-run bookkeeping.
struct Slot {
    name: &'static str,
    collector: Arc<dyn Collector>,
    /// Runs abandoned at the budget that have not returned yet.
    stuck: Arc<AtomicUsize>,
}

/// The outcome of one collector in one scrape.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub name: &'static str,
    pub success: bool,
    pub duration: Duration,
}

/// Runs the enabled collectors.
pub struct Scraper {
    slots: Vec<Slot>,
    budget: Duration,
}

const RUNNING: u8 = 0;
const DONE: u8 = 1;
const ABANDONED: u8 = 2;

impl Scraper {
    /// A scraper over `(name, collector)` pairs, with a per-collector time budget.
    pub fn new(collectors: Vec<(&'static str, Arc<dyn Collector>)>, budget: Duration) -> Self {
        let slots = collectors
            .into_iter()
            .map(|(name, collector)| Slot {
                name,
                collector,
                stuck: Arc::new(AtomicUsize::new(0)),
            })
            .collect();
        Self { slots, budget }
    }

    /// The names of the enabled collectors.
    pub fn collector_names(&self) -> Vec<&'static str> {
        self.slots.iter().map(|s| s.name).collect()
    }

    /// The configured per-collector budget.
    pub fn budget(&self) -> Duration {
        self.budget
    }

    /// Runs all collectors and returns their families followed by the scrape's own metrics.
    /// `budget` overrides the configured one when the scraper asks for less (Prometheus sends its
    /// scrape timeout in `X-Prometheus-Scrape-Timeout-Seconds`).
    pub async fn scrape(&self, budget: Option<Duration>) -> (Vec<MetricFamily>, Vec<Outcome>) {
        let budget = budget.map_or(self.budget, |b| b.min(self.budget));
        let deadline = tokio::time::Instant::now() + budget;
        let mut running = Vec::with_capacity(self.slots.len());
        for slot in &self.slots {
            if slot.stuck.load(Ordering::Acquire) > 0 && !slot.collector.rerun_while_stuck() {
                tracing::warn!(
                    collector = slot.name,
                    "collector is still stuck in an earlier scrape; skipped"
                );
                running.push((slot, None, Instant::now()));
                continue;
            }
            let state = Arc::new(AtomicU8::new(RUNNING));
            let (collector, stuck, task_state) = (
                Arc::clone(&slot.collector),
                Arc::clone(&slot.stuck),
                Arc::clone(&state),
            );
            let started = Instant::now();
            let handle = tokio::task::spawn_blocking(move || {
                let mut out = Vec::new();
                let result = collector.collect(&mut out).map(|()| out);
                if task_state
                    .compare_exchange(RUNNING, DONE, Ordering::AcqRel, Ordering::Acquire)
                    .is_err()
                {
                    // The scrape gave up on this run; it is no longer stuck.
                    stuck.fetch_sub(1, Ordering::AcqRel);
                }
                (result, started.elapsed())
            });
            running.push((slot, Some((handle, state)), started));
        }

        let mut families = Vec::new();
        let mut outcomes = Vec::with_capacity(running.len());
        for (slot, run, started) in running {
            let Some((handle, state)) = run else {
                outcomes.push(Outcome {
                    name: slot.name,
                    success: false,
                    duration: Duration::ZERO,
                });
                continue;
            };
            let outcome = match tokio::time::timeout_at(deadline, handle).await {
                Ok(Ok((Ok(mut fams), took))) => {
                    families.append(&mut fams);
                    Outcome {
                        name: slot.name,
                        success: true,
                        duration: took,
                    }
                }
                Ok(Ok((Err(e), took))) => {
                    tracing::error!(collector = slot.name, duration_seconds = took.as_secs_f64(), error = %e, "collector failed");
                    Outcome {
                        name: slot.name,
                        success: false,
                        duration: took,
                    }
                }
                Ok(Err(join)) => {
                    tracing::error!(collector = slot.name, error = %join, "collector panicked");
                    Outcome {
                        name: slot.name,
                        success: false,
                        duration: started.elapsed(),
                    }
                }
                Err(_) => {
                    slot.stuck.fetch_add(1, Ordering::AcqRel);
                    if state
                        .compare_exchange(RUNNING, ABANDONED, Ordering::AcqRel, Ordering::Acquire)
                        .is_err()
                    {
                        // It finished just now; nothing is stuck.
                        slot.stuck.fetch_sub(1, Ordering::AcqRel);
                    }
                    tracing::error!(
                        collector = slot.name,
                        budget_seconds = budget.as_secs_f64(),
                        "collector timed out"
                    );
                    Outcome {
                        name: slot.name,
                        success: false,
                        duration: started.elapsed(),
                    }
                }
            };
            outcomes.push(outcome);
        }
        families.extend(meta_families(&outcomes));
        (families, outcomes)
    }
}

fn meta_families(outcomes: &[Outcome]) -> [MetricFamily; 3] {
    let mut success = MetricFamily::gauge(
        "hale_scrape_collector_success",
        None,
        "Whether a collector succeeded in this scrape (1) or failed or timed out (0).",
    );
    let mut duration = MetricFamily::gauge(
        "hale_scrape_collector_duration",
        Some(Unit::Seconds),
        "How long a collector took in this scrape.",
    );
    for o in outcomes {
        success.push([("collector", o.name.to_string())], o.success);
        duration.push(
            [("collector", o.name.to_string())],
            o.duration.as_secs_f64(),
        );
    }
    [success, duration, build_info()]
}

/// `hale_build_info{version,revision,rustc}` valued 1.
pub fn build_info() -> MetricFamily {
    MetricFamily::info("hale_build", "A metric with a constant '1' value labeled by version, revision and rustc version of hale.")
        .with(
            [
                ("version", env!("CARGO_PKG_VERSION").to_string()),
                ("revision", env!("HALE_REVISION").to_string()),
                ("rustc", env!("HALE_RUSTC_VERSION").to_string()),
            ],
            1u64,
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collector::Error;
    use std::sync::mpsc;
    use std::sync::Mutex;

    struct Fixed;
    impl Collector for Fixed {
        fn collect(&self, out: &mut Vec<MetricFamily>) -> Result<(), Error> {
            out.push(MetricFamily::gauge("fixed", None, "h").with([], 1u64));
            Ok(())
        }
    }

    struct Failing;
    impl Collector for Failing {
        fn collect(&self, _: &mut Vec<MetricFamily>) -> Result<(), Error> {
            Err(Error::Source("broken".into()))
        }
    }

    /// Blocks until released, counting how many runs started.
    struct Hanging {
        release: Mutex<mpsc::Receiver<()>>,
        started: AtomicUsize,
    }
    impl Collector for Hanging {
        fn collect(&self, _: &mut Vec<MetricFamily>) -> Result<(), Error> {
            self.started.fetch_add(1, Ordering::SeqCst);
            let _ = self.release.lock().unwrap().recv();
            Ok(())
        }
    }

    fn success_of(fams: &[MetricFamily], name: &str) -> f64 {
        let f = fams
            .iter()
            .find(|f| f.name == "hale_scrape_collector_success")
            .unwrap();
        f.samples
            .iter()
            .find(|s| s.labels[0].1 == name)
            .unwrap()
            .value
            .as_f64()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_hanging_collector_fails_alone_and_is_not_restarted_while_stuck() {
        let (tx, rx) = mpsc::channel();
        let hanging = Arc::new(Hanging {
            release: Mutex::new(rx),
            started: AtomicUsize::new(0),
        });
        let scraper = Scraper::new(
            vec![
                ("fixed", Arc::new(Fixed) as Arc<dyn Collector>),
                ("failing", Arc::new(Failing)),
                ("hanging", hanging.clone()),
            ],
            Duration::from_millis(200),
        );
        let (fams, _) = scraper.scrape(None).await;
        assert!(fams.iter().any(|f| f.name == "fixed"));
        assert_eq!(success_of(&fams, "fixed"), 1.0);
        assert_eq!(success_of(&fams, "failing"), 0.0);
        assert_eq!(success_of(&fams, "hanging"), 0.0);

        let (fams, _) = scraper.scrape(None).await;
        assert_eq!(success_of(&fams, "hanging"), 0.0);
        assert_eq!(
            hanging.started.load(Ordering::SeqCst),
            1,
            "a stuck collector must not be started again"
        );

        tx.send(()).unwrap();
        // Once the stuck run returns, the collector runs again (and succeeds).
        for _ in 0..100 {
            if scraper.slots[2].stuck.load(Ordering::SeqCst) == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tx.send(()).unwrap();
        let (fams, _) = scraper.scrape(None).await;
        assert_eq!(success_of(&fams, "hanging"), 1.0);
        assert_eq!(hanging.started.load(Ordering::SeqCst), 2);
    }
}
