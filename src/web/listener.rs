//! The listener: accepts connections up to `--web.max-connections` (more wait in the kernel's
//! backlog, so a flood cannot exhaust hale's file descriptors), does the TLS handshake within
//! the header timeout, and serves HTTP/1.1 with hyper under a header-read timeout and a header
//! size cap, so a slow or silent client (slowloris) loses its connection instead of holding it.
//! One client address (an IPv6 client by its /64) holds at most `--web.max-connections-per-client`
//! of them: past that its new connections are closed at once, so a client flooding slow
//! connections cannot take the slots that probes and Prometheus need.
//! Each request carries the peer's address and whether its client certificate is allowed.
//! Shutdown stops accepting and lets requests in flight finish within a grace period.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use parking_lot::Mutex;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tower::ServiceExt;

use super::security::Web;

/// Limits on connections and requests (flags `--web.*`).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_connections: usize,
    /// Connections one client address (IPv6: its /64) may hold at once.
    pub max_connections_per_client: usize,
    /// For the TLS handshake and for a request's headers to arrive.
    pub header_timeout: Duration,
    /// For a request to be read and answered (enforced in the router, see `server.rs`).
    pub request_timeout: Duration,
    /// Request line plus headers, at least 8 KiB (hyper's floor).
    pub max_header_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 512,
            max_connections_per_client: 128,
            header_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_header_bytes: 16 * 1024,
        }
    }
}

/// Who is on the other end of a request's connection.
#[derive(Debug, Clone, Copy)]
pub struct Peer {
    pub addr: SocketAddr,
    /// `false` when TLS verified a client certificate that carries none of
    /// `client_allowed_sans`: every request on the connection is refused with 403.
    pub cert_allowed: bool,
}

/// The connections each client holds, against the per-client cap.
struct PerClient {
    max: usize,
    held: Mutex<HashMap<IpAddr, usize>>,
}

/// One connection counted against its client; the count drops with it.
struct ClientSlot {
    clients: Arc<PerClient>,
    key: IpAddr,
}

impl PerClient {
    /// Counts a new connection of `ip`, or `None` when the client already holds its share.
    fn enter(self: &Arc<Self>, ip: IpAddr) -> Option<ClientSlot> {
        let key = super::limits::client_key(ip);
        let mut held = self.held.lock();
        let n = held.entry(key).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(ClientSlot {
            clients: Arc::clone(self),
            key,
        })
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut held = self.clients.held.lock();
        if let Some(n) = held.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                held.remove(&self.key);
            }
        }
    }
}

/// How long in-flight requests may take to finish after a shutdown signal.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Serves `router` on every listener until `shutdown` completes.
pub async fn serve(
    listeners: Vec<TcpListener>,
    router: Router,
    web: Arc<Web>,
    limits: Limits,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    let graceful = Arc::new(GracefulShutdown::new());
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let clients = Arc::new(PerClient {
        max: limits.max_connections_per_client.max(1),
        held: Mutex::new(HashMap::new()),
    });
    let mut acceptors = tokio::task::JoinSet::new();
    for listener in listeners {
        acceptors.spawn(accept_loop(
            listener,
            router.clone(),
            Arc::clone(&web),
            limits,
            Arc::clone(&permits),
            Arc::clone(&clients),
            Arc::clone(&graceful),
        ));
    }
    shutdown.await;
    tracing::info!("shutting down");
    // Stop accepting; the connections already accepted are watched by `graceful`.
    acceptors.abort_all();
    while acceptors.join_next().await.is_some() {}
    let Ok(graceful) = Arc::try_unwrap(graceful) else {
        return Ok(());
    };
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(SHUTDOWN_GRACE) => {
            tracing::warn!(
                grace_seconds = SHUTDOWN_GRACE.as_secs(),
                "requests still running at the end of the grace period"
            );
        }
    }
    Ok(())
}

async fn accept_loop(
    listener: TcpListener,
    router: Router,
    web: Arc<Web>,
    limits: Limits,
    permits: Arc<Semaphore>,
    clients: Arc<PerClient>,
    graceful: Arc<GracefulShutdown>,
) {
    loop {
        // A permit first: beyond the cap, connections wait in the kernel's backlog.
        let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
            return;
        };
        let (stream, addr) = match listener.accept().await {
            Ok(c) => c,
            // EMFILE and friends: wait a moment rather than spin.
            Err(e) => {
                tracing::warn!(error = %e, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Some(slot) = clients.enter(addr.ip()) else {
            // Closed at once: the client holds its share already. The permit goes back now.
            tracing::debug!(peer = %addr, "connection refused: the client holds --web.max-connections-per-client");
            drop(stream);
            continue;
        };
        let watcher = graceful.watcher();
        let (router, web) = (router.clone(), Arc::clone(&web));
        tokio::spawn(async move {
            connection(stream, addr, router, web, limits, watcher).await;
            drop(slot);
            drop(permit);
        });
    }
}

async fn connection(
    stream: TcpStream,
    addr: SocketAddr,
    router: Router,
    web: Arc<Web>,
    limits: Limits,
    graceful: hyper_util::server::graceful::Watcher,
) {
    let _ = stream.set_nodelay(true);
    let security = web.current();
    let http = http1(limits);
    match &security.tls {
        None => {
            let service = service(
                router,
                Peer {
                    addr,
                    cert_allowed: true,
                },
            );
            let conn = http.serve_connection(TokioIo::new(stream), service);
            if let Err(e) = graceful.watch(conn).await {
                tracing::debug!(peer = %addr, error = %e, "connection ended");
            }
        }
        Some(tls) => {
            let acceptor = tokio_rustls::TlsAcceptor::from(Arc::clone(&tls.config));
            let stream =
                match tokio::time::timeout(limits.header_timeout, acceptor.accept(stream)).await {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        tracing::debug!(peer = %addr, error = %e, "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!(peer = %addr, "TLS handshake timed out");
                        return;
                    }
                };
            let cert_allowed = tls.client_allowed(stream.get_ref().1.peer_certificates());
            let service = service(router, Peer { addr, cert_allowed });
            let conn = http.serve_connection(TokioIo::new(stream), service);
            if let Err(e) = graceful.watch(conn).await {
                tracing::debug!(peer = %addr, error = %e, "connection ended");
            }
        }
    }
}

/// hyper's HTTP/1 server as hale configures it: the header-read timeout and the header cap.
pub fn http1(limits: Limits) -> hyper::server::conn::http1::Builder {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(limits.max_header_bytes.max(8192));
    http
}

/// The router as a hyper service whose requests carry the [`Peer`].
pub fn service(
    router: Router,
    peer: Peer,
) -> TowerToHyperService<
    tower::util::MapRequest<
        Router,
        impl FnMut(
                axum::http::Request<hyper::body::Incoming>,
            ) -> axum::http::Request<hyper::body::Incoming>
            + Clone,
    >,
> {
    TowerToHyperService::new(router.map_request(
        move |mut req: axum::http::Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(peer);
            req
        },
    ))
}
