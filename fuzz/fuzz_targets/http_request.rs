//! Raw bytes on a connection, through hyper as hale configures it and the whole app: the
//! guard (credentials, roles, limits), every route (`/metrics` with any `Accept` and
//! `X-Prometheus-Scrape-Timeout-Seconds`, `/health*`, the webhook with healing on in dry-run,
//! `/heal/events` with any query, the landing page). No request may panic hale or get a 500
//! (hale's answer to a bug).
#![no_main]

use std::sync::OnceLock;

use hale::web::listener::{http1, service, Limits, Peer};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn config() -> String {
    format!(
        "heal:
  dry_run: true
  auth: {{bearer_token: t0ken}}
  audit: {{path: {}}}
  rules:
    - name: flush
      match_re: {{alertname: '.+'}}
      target_label: instance
      action: exec
      argv: [/bin/true]
web:
  rate_limit: {{webhook: {{per_second: 0, burst: 0}}, failed_auth: {{per_minute: 0, burst: 0}}}}
",
        hale_fuzz::workdir().join("heal.db").display()
    )
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    static APP: OnceLock<axum::Router> = OnceLock::new();
    let rt = hale_fuzz::runtime();
    let app = APP.get_or_init(|| {
        let _entered = rt.enter();
        hale_fuzz::app(&hale_fuzz::args(&["--no-collector.health"]), &config())
    });
    let answer = rt.block_on(async {
        let (mut client, server) = tokio::io::duplex(1 << 16);
        let mut http = http1(Limits::default());
        // Answer a whole request even when the client has already sent EOF.
        http.half_close(true);
        let peer = Peer {
            addr: "127.0.0.1:1".parse().expect("address"),
            cert_allowed: true,
        };
        let conn = http.serve_connection(TokioIo::new(server), service(app.clone(), peer));
        let served = tokio::spawn(conn);
        let _ = client.write_all(data).await;
        let _ = client.shutdown().await;
        let mut answer = Vec::new();
        let _ = client.read_to_end(&mut answer).await;
        let _ = served.await;
        answer
    });
    let text = String::from_utf8_lossy(&answer);
    assert!(!text.contains("HTTP/1.1 500"), "a request got 500: {text}");
});
