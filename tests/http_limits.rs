//! `--web.max-requests`: scrapes beyond the limit get 503 with node_exporter's message instead of
//! queueing, and the limit frees up when a scrape ends.

mod common;

use std::sync::{mpsc, Arc};

use parking_lot::Mutex;
use std::time::Duration;

use hale::collector::{Collector, Error};
use hale::metric::MetricFamily;
use hale::scrape::Scraper;
use hale::server::{app, AppState};

/// Blocks every run until the test releases it, and says when a run has started.
struct Gate {
    started: Mutex<mpsc::Sender<()>>,
    release: Mutex<mpsc::Receiver<()>>,
}

impl Collector for Gate {
    fn collect(&self, out: &mut Vec<MetricFamily>) -> Result<(), Error> {
        let _ = self.started.lock().send(());
        let _ = self.release.lock().recv();
        out.push(MetricFamily::gauge("gate", None, "h").with([], 1u64));
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrapes_over_the_limit_get_503() {
    let (started_tx, started_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel();
    let gate = Arc::new(Gate {
        started: Mutex::new(started_tx),
        release: Mutex::new(release_rx),
    });
    let scraper = Scraper::new(
        vec![("gate", gate as Arc<dyn Collector>)],
        Duration::from_secs(30),
    );
    let (health, _tasks) = hale::health::Health::new(hale::health::Inputs {
        config: hale::health::HealthConfig::default(),
        paths: hale::paths::HostPaths::default(),
        filesystem: hale::collector::filesystem::Options::default(),
        process_names: Arc::new(Vec::new()),
        docker: None,
    });
    let router = app(Arc::new(AppState::new(
        scraper,
        health,
        "/metrics".into(),
        1,
        None,
    )));

    let first = tokio::spawn(common::request(router.clone(), "/metrics", None));
    tokio::task::spawn_blocking(move || started_rx.recv().unwrap())
        .await
        .unwrap();

    let second = common::request(router.clone(), "/metrics", None).await;
    assert_eq!(second.status, 503);
    assert!(
        second
            .body
            .contains("Limit of concurrent requests reached (1)"),
        "{}",
        second.body
    );

    release_tx.send(()).unwrap();
    let first = first.await.unwrap();
    assert_eq!(first.status, 200);
    assert!(first.body.contains("\ngate 1\n"), "{}", first.body);

    // The permit is back: the next scrape runs.
    release_tx.send(()).unwrap();
    assert_eq!(common::request(router, "/metrics", None).await.status, 200);
}
