//! One scrape: run every enabled collector on the blocking pool under a time budget and report
//! `hale_scrape_collector_success` / `_duration_seconds` per collector plus `hale_build_info`.
//!
//! Collectors run one after another in a single blocking task (a thread hand-off per collector
//! would cost more than most collectors do), those that may block ([`Collector::may_block`]:
//! statfs of network mounts, other processes' files) last. At the deadline, whatever has not
//! reported is failed and the scrape answers without it. A collector still running then is
//! "stuck": its thread is left to finish, and until it does that collector is not started again
//! (unless it skips what is stuck itself), so a dead mount cannot pile up threads.
//!
//! Scrapes that arrive while a collection is running join it instead of starting another
//! ("single flight"): an HA pair of Prometheus servers, or a burst of clients, costs one read of
//! the host, and the number of threads stays bounded however many clients connect. A joined
//! scrape's data was read after it arrived or at most one collection earlier.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::collector::{Collector, Error};
use crate::metric::{MetricFamily, Unit};

/// One enabled collector and its stuck-run bookkeeping.
struct Slot {
    name: &'static str,
    collector: Arc<dyn Collector>,
    /// Runs abandoned at the deadline that have not returned yet.
    stuck: AtomicUsize,
    /// The last error, so a failure that repeats every scrape (no Docker on this host) is
    /// logged at error once and at debug after that, until it changes or the collector recovers.
    last_error: Mutex<Option<String>>,
}

/// The outcome of one collector in one scrape.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub name: &'static str,
    pub success: bool,
    pub duration: Duration,
}

/// What the collector task reports for each collector it ran.
type Report = (usize, Result<Vec<MetricFamily>, Error>, Duration);

/// Progress of a scrape's collector task, shared with the scrape waiting on it.
#[derive(Default)]
struct Progress {
    /// The slot running now.
    current: Option<usize>,
    /// Set by the scrape at its deadline: the task stops after the current collector.
    abandoned: bool,
    /// What each collector that has returned reported, in the order they ran.
    reports: Vec<Report>,
}

/// The result of one collection, shared by every scrape that joined it.
#[derive(Debug)]
pub struct Collected {
    /// Collector families followed by the scrape's own (`hale_scrape_*`, `hale_build_info`).
    pub families: Vec<MetricFamily>,
    pub outcomes: Vec<Outcome>,
    /// The encoded body per format, made once for all the scrapes that share this collection.
    pub(crate) encoded: [std::sync::OnceLock<bytes::Bytes>; 2],
}

impl Collected {
    /// A collection's result, not yet encoded.
    pub fn new(families: Vec<MetricFamily>, outcomes: Vec<Outcome>) -> Self {
        Self {
            families,
            outcomes,
            encoded: Default::default(),
        }
    }
}

/// Runs the enabled collectors.
pub struct Scraper {
    slots: Arc<Vec<Slot>>,
    budget: Duration,
    in_flight: Mutex<Option<Arc<tokio::sync::OnceCell<Arc<Collected>>>>>,
}

impl Scraper {
    /// A scraper over `(name, collector)` pairs, with a per-scrape time budget.
    pub fn new(collectors: Vec<(&'static str, Arc<dyn Collector>)>, budget: Duration) -> Self {
        let slots = collectors
            .into_iter()
            .map(|(name, collector)| Slot {
                name,
                collector,
                stuck: AtomicUsize::new(0),
                last_error: Mutex::new(None),
            })
            .collect();
        Self {
            slots: Arc::new(slots),
            budget,
            in_flight: Mutex::new(None),
        }
    }

    /// The names of the enabled collectors.
    pub fn collector_names(&self) -> Vec<&'static str> {
        self.slots.iter().map(|s| s.name).collect()
    }

    /// Collects, or joins the collection already running. `budget` lowers the configured one
    /// when the scraper asks for less (Prometheus sends its scrape timeout in
    /// `X-Prometheus-Scrape-Timeout-Seconds`).
    pub async fn scrape(&self, budget: Option<Duration>) -> Arc<Collected> {
        let flight = {
            let mut slot = self.in_flight.lock();
            Arc::clone(slot.get_or_insert_with(|| Arc::new(tokio::sync::OnceCell::new())))
        };
        // If the scrape running the collection is cancelled (its client went away), a joined
        // one takes over: that is how tokio's OnceCell initialises.
        let collected = flight
            .get_or_init(|| async {
                let (families, outcomes) = self.collect(budget).await;
                // Later scrapes start a fresh collection.
                let mut slot = self.in_flight.lock();
                if slot.as_ref().is_some_and(|f| Arc::ptr_eq(f, &flight)) {
                    *slot = None;
                }
                Arc::new(Collected::new(families, outcomes))
            })
            .await;
        Arc::clone(collected)
    }

    /// Runs all collectors once and returns their families followed by the scrape's own metrics.
    // Every index here is a slot's position from enumerating `self.slots`, whose length never
    // changes after `new`; `results` and `by_slot` are made with the same length.
    #[allow(clippy::indexing_slicing)]
    async fn collect(&self, budget: Option<Duration>) -> (Vec<MetricFamily>, Vec<Outcome>) {
        let budget = budget.map_or(self.budget, |b| b.min(self.budget));
        let deadline = tokio::time::Instant::now() + budget;
        let mut results: Vec<Option<(bool, Duration)>> = vec![None; self.slots.len()];

        // One sequence per scrape, so one thread hand-off: collectors that may block go last, so
        // that when one hangs, only the collectors after it (if any) miss this one scrape.
        let mut order = Vec::new();
        let mut last = Vec::new();
        for (i, slot) in self.slots.iter().enumerate() {
            if slot.stuck.load(Ordering::Acquire) > 0 && !slot.collector.rerun_while_stuck() {
                tracing::warn!(
                    collector = slot.name,
                    "collector is still stuck in an earlier scrape; skipped"
                );
                results[i] = Some((false, Duration::ZERO));
            } else if slot.collector.may_block() {
                last.push(i);
            } else {
                order.push(i);
            }
        }
        order.extend(last);

        // The task files each report in `progress` and wakes this scrape once, when it ends (or
        // panics, dropping `done`): a wake-up per collector would cost a thread switch each.
        let progress = Arc::new(Mutex::new(Progress::default()));
        if !order.is_empty() {
            let (done, ended) = oneshot::channel::<()>();
            let (slots, task_progress) = (Arc::clone(&self.slots), Arc::clone(&progress));
            tokio::task::spawn_blocking(move || {
                run_group(&slots, &order, &task_progress);
                let _ = done.send(());
            });
            if tokio::time::timeout_at(deadline, ended).await.is_err() {
                let mut p = progress.lock();
                p.abandoned = true;
                if let Some(i) = p.current {
                    self.slots[i].stuck.fetch_add(1, Ordering::AcqRel);
                    tracing::error!(
                        collector = self.slots[i].name,
                        budget_seconds = budget.as_secs_f64(),
                        "collector timed out"
                    );
                }
            }
        }
        // Reports filed before the task saw `abandoned` still count.
        let reports = std::mem::take(&mut progress.lock().reports);

        // Families by slot, so the output is in collector order whatever order they ran in.
        let mut by_slot: Vec<Vec<MetricFamily>> =
            (0..self.slots.len()).map(|_| Vec::new()).collect();
        for (i, result, took) in reports {
            let slot = &self.slots[i];
            let mut last = slot.last_error.lock();
            let success = match result {
                Ok(fams) => {
                    by_slot[i] = fams;
                    if last.take().is_some() {
                        tracing::info!(collector = slot.name, "collector recovered");
                    }
                    true
                }
                Err(e) => {
                    let error = e.to_string();
                    let seconds = took.as_secs_f64();
                    if last.as_deref() == Some(error.as_str()) {
                        tracing::debug!(
                            collector = slot.name,
                            duration_seconds = seconds,
                            error,
                            "collector failed again"
                        );
                    } else {
                        tracing::error!(collector = slot.name, duration_seconds = seconds, error = %error, "collector failed (repeats of this error are logged at debug)");
                        *last = Some(error);
                    }
                    false
                }
            };
            results[i] = Some((success, took));
        }

        // Sized once: growing to some three hundred families by doubling copied them over
        // and over.
        let mut families: Vec<MetricFamily> =
            Vec::with_capacity(by_slot.iter().map(Vec::len).sum::<usize>() + 8);
        for mut fams in by_slot {
            families.append(&mut fams);
        }
        let outcomes: Vec<Outcome> = self
            .slots
            .iter()
            .zip(results)
            .map(|(slot, r)| {
                let (success, duration) = r.unwrap_or((false, budget));
                Outcome {
                    name: slot.name,
                    success,
                    duration,
                }
            })
            .collect();
        families.extend(meta_families(&outcomes));
        (families, outcomes)
    }
}

/// Runs one group's collectors in order on the current (blocking) thread.
// `group` holds positions in `slots` (see `collect`).
#[allow(clippy::indexing_slicing)]
fn run_group(slots: &[Slot], group: &[usize], progress: &Mutex<Progress>) {
    for &i in group {
        {
            let mut p = progress.lock();
            if p.abandoned {
                return;
            }
            p.current = Some(i);
        }
        let started = Instant::now();
        let mut out = Vec::new();
        let result = slots[i].collector.collect(&mut out).map(|()| out);
        let took = started.elapsed();
        let mut p = progress.lock();
        p.current = None;
        if p.abandoned {
            // The scrape counted this run as stuck; it has returned now.
            slots[i].stuck.fetch_sub(1, Ordering::AcqRel);
            return;
        }
        // Filed under the lock, so the scrape's take after abandoning sees every report.
        p.reports.push((i, result, took));
    }
}

fn meta_families(outcomes: &[Outcome]) -> [MetricFamily; 5] {
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
    // The host collectors node_exporter also has, under its names too.
    let mut node_success = MetricFamily::gauge(
        "node_scrape_collector_success",
        None,
        "Whether a collector succeeded (node_exporter's name; hale_scrape_collector_success has every collector).",
    );
    let mut node_duration = MetricFamily::gauge(
        "node_scrape_collector_duration",
        Some(Unit::Seconds),
        "Duration of a collector scrape (node_exporter's name; hale_scrape_collector_duration_seconds has every collector).",
    );
    for o in outcomes {
        success.push([("collector", o.name.to_string())], o.success);
        duration.push(
            [("collector", o.name.to_string())],
            o.duration.as_secs_f64(),
        );
        if crate::collector::NODE_EXPORTER_DEFAULTS.contains(&o.name) {
            node_success.push([("collector", o.name.to_string())], o.success);
            node_duration.push(
                [("collector", o.name.to_string())],
                o.duration.as_secs_f64(),
            );
        }
    }
    [success, duration, node_success, node_duration, build_info()]
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
    use std::sync::mpsc;

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
            let _ = self.release.lock().recv();
            Ok(())
        }
    }

    fn success_of(c: &Collected, name: &str) -> f64 {
        let fams = &c.families;
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
        let fams = scraper.scrape(None).await;
        assert!(fams.families.iter().any(|f| f.name == "fixed"));
        assert_eq!(success_of(&fams, "fixed"), 1.0);
        assert_eq!(success_of(&fams, "failing"), 0.0);
        assert_eq!(success_of(&fams, "hanging"), 0.0);

        let fams = scraper.scrape(None).await;
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
        let fams = scraper.scrape(None).await;
        assert_eq!(success_of(&fams, "hanging"), 1.0);
        assert_eq!(hanging.started.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn collectors_queued_behind_a_hanging_one_run_again_next_scrape() {
        let (tx, rx) = mpsc::channel();
        let hanging = Arc::new(Hanging {
            release: Mutex::new(rx),
            started: AtomicUsize::new(0),
        });
        let scraper = Scraper::new(
            vec![
                ("hanging", hanging.clone() as Arc<dyn Collector>),
                ("fixed", Arc::new(Fixed)),
            ],
            Duration::from_millis(200),
        );
        // First scrape: `fixed` shares the hanging collector's thread and misses the deadline.
        let fams = scraper.scrape(None).await;
        assert_eq!(success_of(&fams, "hanging"), 0.0);
        assert_eq!(success_of(&fams, "fixed"), 0.0);
        // Next scrape: the stuck collector is skipped, so the rest run.
        let fams = scraper.scrape(None).await;
        assert_eq!(success_of(&fams, "hanging"), 0.0);
        assert_eq!(success_of(&fams, "fixed"), 1.0);
        assert_eq!(hanging.started.load(Ordering::SeqCst), 1);
        tx.send(()).unwrap();
    }

    /// Counts its runs and takes a while, so concurrent scrapes overlap.
    struct Slow(AtomicUsize);
    impl Collector for Slow {
        fn collect(&self, out: &mut Vec<MetricFamily>) -> Result<(), Error> {
            self.0.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(100));
            out.push(MetricFamily::gauge("slow", None, "h").with([], 1u64));
            Ok(())
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_scrapes_share_one_collection_and_later_ones_start_fresh() {
        let slow = Arc::new(Slow(AtomicUsize::new(0)));
        let scraper = Arc::new(Scraper::new(
            vec![("slow", slow.clone() as Arc<dyn Collector>)],
            Duration::from_secs(5),
        ));
        let joined: Vec<_> = (0..5)
            .map(|_| {
                let s = Arc::clone(&scraper);
                tokio::spawn(async move { s.scrape(None).await })
            })
            .collect();
        for j in joined {
            assert_eq!(success_of(&j.await.unwrap(), "slow"), 1.0);
        }
        let after_burst = slow.0.load(Ordering::SeqCst);
        assert!(
            after_burst < 5,
            "5 overlapping scrapes ran {after_burst} collections"
        );
        scraper.scrape(None).await;
        assert_eq!(
            slow.0.load(Ordering::SeqCst),
            after_burst + 1,
            "a later scrape collects afresh"
        );
    }
}
