//! The middleware every request passes before its handler: it refuses a client certificate
//! outside `client_allowed_sans` (403); a client blocked for failing authentication too often
//! (429, or 503 on the webhook); a webhook client over its rate (503 with `Retry-After`:
//! Alertmanager retries a 5xx but drops a 4xx, 429 included); and, when the web config has
//! users, a request without a user holding the endpoint's role (401 without valid credentials,
//! 403 without the role). It then runs the handler within `--web.request-timeout` (408 past
//! it; 503 with `Retry-After` on the webhook, which Alertmanager retries), adds the web config's
//! response headers, and counts a 401 as a failed authentication of the client.
//!
//! Each route says what it needs ([`Need`], attached where the router is built):
//! `/health`, `/health/live` and `/health/ready` are public (the details of `/health` need
//! `metrics`, or `health.details_token_file`'s token); the webhook takes `heal` users or
//! `heal.auth`'s credentials (checked by its handler); `/heal/events` needs `events`; `/`, the
//! metrics path and unknown paths need `metrics`.
//! Without `basic_auth_users` nobody is asked for a user: the endpoints are as open as
//! node_exporter's, and healing's endpoints keep `heal.auth`.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};

/// The challenge of a 401 for a web user.
const BASIC: &str = "Basic realm=\"hale\"";
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::listener::Peer;
use super::users::{Identity, Role};

/// What the guard needs of the server: the web security in force and the request timeout.
#[derive(Clone)]
pub struct Guard {
    pub web: Arc<super::security::Web>,
    /// `--web.request-timeout`.
    pub request_timeout: Duration,
}

/// What an endpoint asks of the caller; each route names its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// `/health/live`, `/health/ready`: nothing is asked, nothing is checked.
    Probe,
    /// `/health`: public, but a user with the `metrics` role sees the details.
    Health,
    /// The webhook: a user with the `heal` role, or `heal.auth`'s credentials (its handler).
    Webhook,
    /// A user holding the role, when the web config has users.
    Role(Role),
}

/// The middleware (see the module doc), for a route that asks `need`.
pub async fn guard(
    State((state, need)): State<(Guard, Need)>,
    mut req: Request,
    next: Next,
) -> Response {
    let peer = req.extensions().get::<Peer>().copied();
    let ip = peer.map(|p| p.addr.ip());
    let security = state.web.current();
    let limiters = &state.web.limiters;
    if peer.is_some_and(|p| !p.cert_allowed) {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "the client certificate is not among client_allowed_sans",
        )
        .into_response();
    }
    // A client blocked for failing authentication is refused where credentials are asked for,
    // not on open endpoints: a Prometheus sharing an address with a misconfigured Alertmanager
    // keeps scraping.
    let asks_credentials = match need {
        Need::Probe | Need::Health => false,
        Need::Webhook | Need::Role(Role::Events) | Need::Role(Role::Heal) => true,
        Need::Role(Role::Metrics) => security.users.is_some(),
    };
    if asks_credentials {
        if let Some(wait) = ip.and_then(|ip| limiters.blocked(ip)) {
            // On the webhook, 503: Alertmanager drops a 4xx, and a sender whose credentials
            // were just fixed must not lose its notifications to the block.
            let code = if need == Need::Webhook {
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                StatusCode::TOO_MANY_REQUESTS
            };
            return ApiError::new(code, "too many failed authentications from this address")
                .retry_after(wait)
                .into_response();
        }
    }
    if need == Need::Webhook {
        if let Some(Err(wait)) = ip.map(|ip| limiters.webhook(ip)) {
            return ApiError::unavailable(
                "webhook rate limit for this address (web.rate_limit.webhook); retry later",
                wait,
            )
            .into_response();
        }
    }
    let authorization = req.headers().get(header::AUTHORIZATION).cloned();
    // Credentials are verified only where an endpoint uses them: a probe never runs bcrypt,
    // and `/health` from a client blocked for failed authentications is answered as anonymous
    // (the summary) without looking at what it sent.
    let verify = match need {
        Need::Probe => false,
        Need::Health => ip.is_none_or(|ip| limiters.blocked(ip).is_none()),
        Need::Webhook | Need::Role(_) => true,
    };
    if let Some(users) = security.users.as_ref().filter(|_| verify) {
        let auth = authorization.as_ref().map(HeaderValue::as_bytes);
        let identity = match users.identify_cached(auth) {
            Some(known) => known,
            None => {
                // bcrypt is slow on purpose: off the async worker, only on a cache miss.
                let sec = Arc::clone(&security);
                let auth = authorization.clone();
                tokio::task::spawn_blocking(move || {
                    sec.users.as_ref().map_or(Identity::Anonymous, |u| {
                        u.identify(auth.as_ref().map(HeaderValue::as_bytes))
                    })
                })
                .await
                .unwrap_or(Identity::Invalid)
            }
        };
        // Every failed check counts. On the webhook, Basic credentials that are no web user
        // may still be heal.auth's: its handler decides, and its 401 is counted below.
        if identity == Identity::Invalid && need != Need::Webhook {
            if let Some(ip) = ip {
                limiters.failed(ip);
            }
        }
        if let Need::Role(role) = need {
            match &identity {
                Identity::Anonymous => {
                    return ApiError::unauthorized("credentials required", BASIC).into_response()
                }
                Identity::Invalid => {
                    return ApiError::unauthorized("wrong credentials", BASIC).into_response();
                }
                Identity::User(_, _) if !identity.has(role) => {
                    return ApiError::new(
                        StatusCode::FORBIDDEN,
                        format!("this user does not hold the {} role", role.as_str()),
                    )
                    .into_response()
                }
                Identity::User(_, _) => {}
            }
        }
        req.extensions_mut().insert(identity);
    }
    let mut response = match tokio::time::timeout(state.request_timeout, next.run(req)).await {
        Ok(r) => r,
        // On the webhook, 503: Alertmanager does not retry a 408. A decision that was being
        // written when the timeout fired still completes with its action queued (the healer
        // owns that task), so the retry finds it and is a duplicate, never a lost action.
        Err(_) if need == Need::Webhook => ApiError::unavailable(
            "the webhook could not be judged within --web.request-timeout; retry later",
            Duration::from_secs(10),
        )
        .into_response(),
        Err(_) => ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "the request took longer than --web.request-timeout",
        )
        .into_response(),
    };
    // A handler's 401 with credentials given (the webhook's token, /heal/events) is a failure.
    if response.status() == StatusCode::UNAUTHORIZED && authorization.is_some() {
        if let Some(ip) = ip {
            limiters.failed(ip);
        }
    }
    for (name, value) in &security.headers {
        response.headers_mut().insert(name.clone(), value.clone());
    }
    response
}
