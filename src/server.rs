//! The HTTP server: `fn app(state) -> Router` (so tests drive it without a socket), binding the
//! `--web.listen-address` list, and the SIGTERM/SIGINT future that starts a graceful shutdown.
//! Every request first passes [`crate::web::guard`] (client certificate, roles, rate limits,
//! request timeout, response headers); [`crate::web::listener`] serves the router.
//!
//! Healing's endpoints, `POST /webhook/alertmanager` and `GET /heal/events`, answer JSON: the
//! credentials are checked before the body is read, the body is capped, and every refusal says
//! why (401, 400, 413, 422, 503 with `Retry-After`, or 404 when healing is not configured).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::exposition::{self, Format};
use crate::scrape::Scraper;
use crate::web::error::ApiError;
use crate::web::users::{Identity, Role};

/// Shared state of the HTTP handlers.
pub struct AppState {
    pub scraper: Scraper,
    pub health: Arc<crate::health::Health>,
    pub telemetry_path: String,
    /// `--web.max-requests`; `None` when unlimited.
    scrape_permits: Option<Semaphore>,
    max_requests: usize,
    /// Healing, when configured.
    pub healer: Option<Arc<crate::heal::Healer>>,
    /// TLS, users, roles and rate limits.
    pub web: Arc<crate::web::security::Web>,
    /// `--web.request-timeout`.
    pub request_timeout: Duration,
    /// `--web.enable-openmetrics`: OpenMetrics for scrapers that ask; else always text 0.0.4.
    pub openmetrics: bool,
}

impl AppState {
    /// State for serving `scraper` at `telemetry_path` with at most `max_requests` parallel scrapes (0: no limit).
    pub fn new(
        scraper: Scraper,
        health: Arc<crate::health::Health>,
        telemetry_path: String,
        max_requests: usize,
        healer: Option<Arc<crate::heal::Healer>>,
    ) -> Self {
        let scrape_permits = (max_requests > 0).then(|| Semaphore::new(max_requests));
        Self {
            scraper,
            health,
            telemetry_path,
            scrape_permits,
            max_requests,
            healer,
            web: Arc::new(crate::web::security::Web::open()),
            request_timeout: crate::web::listener::Limits::default().request_timeout,
            openmetrics: false,
        }
    }

    /// The same state under the given web security and request timeout.
    pub fn with_web(
        mut self,
        web: Arc<crate::web::security::Web>,
        request_timeout: Duration,
    ) -> Self {
        self.web = web;
        self.request_timeout = request_timeout;
        self
    }
}

/// Errors a binding can hit, with the address that failed.
#[derive(Debug, thiserror::Error)]
#[error("listening on {address}: {source}")]
pub struct BindError {
    pub address: String,
    #[source]
    pub source: std::io::Error,
}

/// The router with every endpoint.
pub fn app(state: Arc<AppState>) -> Router {
    use crate::web::guard::{guard, Guard, Need};
    let telemetry_path = state.telemetry_path.clone();
    let guarded = Guard {
        web: Arc::clone(&state.web),
        request_timeout: state.request_timeout,
    };
    // Every route names what it asks of the caller; the guard enforces it.
    let needs = |need: Need| axum::middleware::from_fn_with_state((guarded.clone(), need), guard);
    let metrics_role = Need::Role(Role::Metrics);
    Router::new()
        .route("/", get(landing).layer(needs(metrics_role)))
        .route(&telemetry_path, get(metrics).layer(needs(metrics_role)))
        .route("/health", get(health).layer(needs(Need::Health)))
        .route("/health/live", get(health_live).layer(needs(Need::Probe)))
        .route("/health/ready", get(health_ready).layer(needs(Need::Probe)))
        .route(
            "/webhook/alertmanager",
            post(webhook).layer(needs(Need::Webhook)),
        )
        .route(
            "/heal/events",
            get(heal_events).layer(needs(Need::Role(Role::Events))),
        )
        .fallback_service(
            axum::routing::any(not_found)
                .layer(needs(metrics_role))
                .with_state(Arc::clone(&state)),
        )
        .layer(axum::middleware::from_fn(catch_panic))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "no such endpoint")
}

/// The request boundary: a bug that panics while one request is served answers that request
/// 500 and is logged; hale and every other request carry on (the release build unwinds for
/// this).
pub async fn catch_panic(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    use futures_util::FutureExt as _;
    // A cheap copy (the URI's bytes are shared), for the log line if this request panics.
    let uri = req.uri().clone();
    match std::panic::AssertUnwindSafe(next.run(req))
        .catch_unwind()
        .await
    {
        Ok(response) => response,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            tracing::error!(
                path = uri.path(),
                panic = what,
                "hale bug: a request panicked; it got 500"
            );
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error (see hale's log)",
            )
            .into_response()
        }
    }
}

/// The healer and the caller's right to use it: a web user with `role`, or (kept apart from
/// users) the webhook's credentials.
fn authorized<'a>(
    state: &'a AppState,
    headers: &HeaderMap,
    identity: Option<&Identity>,
    role: Role,
) -> Result<&'a Arc<crate::heal::Healer>, ApiError> {
    let Some(healer) = &state.healer else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "healing is not configured: add heal rules or enable heal.autoheal in the config file",
        ));
    };
    if identity.is_some_and(|i| i.has(role)) {
        return Ok(healer);
    }
    let auth = headers
        .get(header::AUTHORIZATION)
        .map(HeaderValue::as_bytes);
    if !healer.credentials().allows(auth) {
        return Err(ApiError::unauthorized(
            "missing or wrong credentials",
            "Bearer realm=\"hale\", Basic realm=\"hale\"",
        ));
    }
    Ok(healer)
}

async fn webhook(State(state): State<Arc<AppState>>, request: axum::extract::Request) -> Response {
    let response = webhook_answer(&state, request)
        .await
        .unwrap_or_else(IntoResponse::into_response);
    if let Some(healer) = &state.healer {
        healer.count_webhook(response.status().as_u16());
    }
    response
}

/// How long Alertmanager should wait before it retries a webhook hale could not take.
const RETRY: Duration = Duration::from_secs(10);

async fn webhook_answer(
    state: &Arc<AppState>,
    request: axum::extract::Request,
) -> Result<Response, ApiError> {
    use crate::heal::engine::Reject;
    use crate::heal::payload::DecodeError;
    if state.healer.as_ref().is_some_and(|h| !h.webhook_enabled()) {
        // Fleet mode: no request can act, whatever credentials it carries.
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "the webhook is off (heal.webhook: false): this hale takes its alerts from heal.pull",
        ));
    }
    let identity = request.extensions().get::<Identity>().cloned();
    let healer = Arc::clone(authorized(
        state,
        request.headers(),
        identity.as_ref(),
        Role::Heal,
    )?);
    let limit = healer.max_body_bytes();
    let body = axum::body::to_bytes(request.into_body(), limit)
        .await
        .map_err(|e| {
            let too_large = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            if too_large {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("the body is larger than heal.max_body_bytes ({limit} bytes)"),
                )
            } else {
                ApiError::new(StatusCode::BAD_REQUEST, format!("reading the body: {e}"))
            }
        })?;
    let plans = healer.receive(&body).await.map_err(|e| match e {
        Reject::Decode(e @ DecodeError::Syntax(_)) => {
            ApiError::new(StatusCode::BAD_REQUEST, e.to_string())
        }
        Reject::Decode(e @ DecodeError::Invalid(_)) => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string())
        }
        e @ (Reject::QueueFull(_) | Reject::ShareFull { .. } | Reject::DockerDown(_)) => {
            ApiError::unavailable(e.to_string(), RETRY)
        }
        // The detail (a path, SQLite's words) is in the log; the client learns what to do.
        Reject::Audit(_) => ApiError::unavailable(
            "the audit log cannot be written, so nothing was recorded or done; retry later",
            RETRY,
        ),
        e @ Reject::Internal(_) => {
            ApiError::internal(e, "internal error; nothing was done (see hale's log)")
        }
    })?;
    // Each decision as /heal/events shows its row: one rendering of a decision.
    let decisions: Vec<serde_json::Value> = plans.iter().map(|p| p.decision().to_json()).collect();
    let body = serde_json::json!({ "status": "accepted", "decisions": decisions });
    Ok((
        StatusCode::ACCEPTED,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response())
}

async fn heal_events(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    identity: Option<axum::Extension<Identity>>,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> Result<Response, ApiError> {
    let identity = identity.map(|axum::Extension(i)| i);
    let healer = Arc::clone(authorized(
        &state,
        &headers,
        identity.as_ref(),
        Role::Events,
    )?);
    let filter = crate::heal::decision::Filter::from_query(query.as_deref().unwrap_or(""))
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e))?;
    let events = healer
        .events(filter)
        .await
        .map_err(|e| ApiError::internal(e, "the audit log could not be read (see hale's log)"))?;
    let events: Vec<serde_json::Value> = events.iter().map(|d| d.to_json()).collect();
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        serde_json::json!({ "events": events }).to_string(),
    )
        .into_response())
}

/// A draft-06 health document: its media type, no caching (it is a live status), and 503 for
/// fail.
fn health_response(status: crate::health::Status, body: bytes::Bytes) -> Response {
    let code = if status == crate::health::Status::Fail {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    (
        code,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/health+json"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        body,
    )
        .into_response()
}

async fn health(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    identity: Option<axum::Extension<Identity>>,
) -> Response {
    let report = state.health.report();
    let auth = headers
        .get(header::AUTHORIZATION)
        .map(HeaderValue::as_bytes);
    // With web users, the details are the `metrics` role's (or the details token's), whatever
    // `show_details` says; without, `show_details` and the token decide.
    let details = if state.web.current().users.is_some() {
        identity.is_some_and(|axum::Extension(i)| i.has(Role::Metrics))
            || state.health.token_matches(auth)
    } else {
        state.health.may_see_details(auth)
    };
    let body = if details {
        report.full.clone()
    } else {
        report.summary.clone()
    };
    health_response(report.status, body)
}

async fn health_live(State(state): State<Arc<AppState>>) -> Response {
    health_response(crate::health::Status::Pass, state.health.live())
}

async fn health_ready(State(state): State<Arc<AppState>>) -> Response {
    let (status, body) = state.health.ready();
    health_response(status, body)
}

async fn landing(State(state): State<Arc<AppState>>) -> Html<String> {
    let heal = match &state.healer {
        None => None,
        Some(h) => Some(h.overview().await.map_err(|e| {
            tracing::warn!(error = %e, "heal: the landing page could not read the audit log");
            "the audit log could not be read (see hale's log)".to_string()
        })),
    };
    let report = state.health.report();
    Html(crate::landing::render(&crate::landing::Page {
        telemetry_path: &state.telemetry_path,
        scraper: &state.scraper,
        health: &report,
        health_details: state.health.may_see_details(None),
        heal,
    }))
}

async fn metrics(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let _permit = match &state.scrape_permits {
        Some(permits) => match permits.try_acquire() {
            Ok(p) => Some(p),
            Err(_) => {
                let msg = format!(
                    "Limit of concurrent requests reached ({}), try again later.\n",
                    state.max_requests
                );
                return (StatusCode::SERVICE_UNAVAILABLE, msg).into_response();
            }
        },
        None => None,
    };
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let format = if state.openmetrics {
        Format::negotiate(accept)
    } else {
        Format::Text004
    };
    let budget = scrape_budget(
        headers
            .get("x-prometheus-scrape-timeout-seconds")
            .map(HeaderValue::as_bytes),
    );
    let collected = state.scraper.scrape(budget).await;
    let body = exposition::encode(&collected, format);
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(format.content_type()),
        )],
        body,
    )
        .into_response()
}

/// The time budget Prometheus asks for in `X-Prometheus-Scrape-Timeout-Seconds`, less half a
/// second to receive the answer. Anything that is not a positive finite number of seconds
/// (`NaN`, `inf`, `-1`, empty, garbage) is ignored, and a huge one is clamped, so the configured
/// `--scrape.collector-timeout` stays in force: a header never aborts a scrape.
pub fn scrape_budget(header: Option<&[u8]>) -> Option<Duration> {
    let seconds = std::str::from_utf8(header?)
        .ok()?
        .trim()
        .parse::<f64>()
        .ok()?;
    if !seconds.is_finite() || seconds <= 0.0 {
        return None;
    }
    // A day is far beyond any collector timeout; the scraper takes the smaller of the two.
    let seconds = (seconds - 0.5).clamp(0.1, 86_400.0);
    Duration::try_from_secs_f64(seconds).ok()
}

/// Binds one `--web.listen-address`. `:PORT` means every address, IPv6 and IPv4, as in Go.
pub async fn bind(address: &str) -> Result<TcpListener, BindError> {
    let err = |source| BindError {
        address: address.to_string(),
        source,
    };
    if let Some(port) = address.strip_prefix(':') {
        match TcpListener::bind(format!("[::]:{port}")).await {
            Ok(l) => Ok(l),
            // Hosts with IPv6 disabled.
            Err(_) => TcpListener::bind(format!("0.0.0.0:{port}"))
                .await
                .map_err(err),
        }
    } else {
        TcpListener::bind(address).await.map_err(err)
    }
}

/// Installs the SIGTERM and SIGINT handlers now, so a signal that arrives while hale is still
/// starting is not lost (or fatal), and returns the future that completes on the first of them.
pub fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 13.1: `X-Prometheus-Scrape-Timeout-Seconds: 1e20` aborted hale.
    #[test]
    fn scrape_timeout_header_never_panics() {
        for bad in [
            "NaN", "nan", "inf", "-inf", "-1", "0", "", " ", "1e309", "abc", "\u{0}",
        ] {
            assert_eq!(scrape_budget(Some(bad.as_bytes())), None, "{bad:?}");
        }
        assert_eq!(scrape_budget(Some(&[0xff, 0xfe])), None);
        assert_eq!(scrape_budget(None), None);
        for huge in ["1e20", "1.8e19", "18446744073709551616", "1e300"] {
            assert_eq!(
                scrape_budget(Some(huge.as_bytes())),
                Some(Duration::from_secs(86_400)),
                "{huge:?}"
            );
        }
        assert_eq!(
            scrape_budget(Some(b"10")),
            Some(Duration::from_millis(9_500))
        );
        assert_eq!(
            scrape_budget(Some(b"0.2")),
            Some(Duration::from_millis(100))
        );
    }

    /// Issue 13.15: a panic while serving one request answers it 500 and ends nothing else.
    #[tokio::test]
    async fn a_panicking_request_gets_500_and_the_server_carries_on() {
        use tower::ServiceExt as _;
        async fn bug() -> &'static str {
            panic!("a bug")
        }
        let app = Router::new()
            .route("/bug", get(bug))
            .route("/ok", get(|| async { "ok" }))
            .layer(axum::middleware::from_fn(catch_panic));
        let get = |path: &str| {
            axum::http::Request::get(path)
                .body(axum::body::Body::empty())
                .unwrap()
        };
        let r = app.clone().oneshot(get("/bug")).await.unwrap();
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let r = app.oneshot(get("/ok")).await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
}
