//! The one error answer of hale's HTTP surface: a status, a short message for the client as
//! `{"error": "..."}`, and the headers that go with it (`Retry-After` on a 503 that Alertmanager
//! should retry, `WWW-Authenticate` on a 401). Internal detail (a path, SQLite's or Docker's
//! words) never goes into the message: [`ApiError::internal`] logs it and answers a short 500.

use std::borrow::Cow;
use std::time::Duration;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// An HTTP error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    status: StatusCode,
    message: Cow<'static, str>,
    retry_after: Option<Duration>,
    challenge: Option<&'static str>,
}

impl ApiError {
    /// An answer with this status and message.
    pub fn new(status: StatusCode, message: impl Into<Cow<'static, str>>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            retry_after: None,
            challenge: None,
        }
    }

    /// 503 with `Retry-After`: the client should try again (Alertmanager retries a 5xx and
    /// drops a 4xx).
    pub fn unavailable(message: impl Into<Cow<'static, str>>, retry_after: Duration) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, message).retry_after(retry_after)
    }

    /// 401 with a challenge naming the schemes the endpoint accepts.
    pub fn unauthorized(
        message: impl Into<Cow<'static, str>>,
        challenge: &'static str,
    ) -> ApiError {
        ApiError {
            challenge: Some(challenge),
            ..ApiError::new(StatusCode::UNAUTHORIZED, message)
        }
    }

    /// 500 for a failure inside hale: `detail` goes to the log, the client gets `message`.
    pub fn internal(detail: impl std::fmt::Display, message: &'static str) -> ApiError {
        tracing::error!(error = %detail, "{message}");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    /// The same answer with `Retry-After` (whole seconds, rounded up, at least 1).
    pub fn retry_after(mut self, wait: Duration) -> ApiError {
        self.retry_after = Some(wait);
        self
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.message }).to_string();
        let mut r = (
            self.status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response();
        if let Some(wait) = self.retry_after {
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        if let Some(challenge) = self.challenge {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_carry_their_headers_and_a_json_message() {
        let r = ApiError::unavailable("later", Duration::from_millis(1500)).into_response();
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.headers()[header::RETRY_AFTER], "2");
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
        let r = ApiError::unauthorized("who?", "Basic realm=\"hale\"").into_response();
        assert_eq!(
            r.headers()[header::WWW_AUTHENTICATE],
            "Basic realm=\"hale\""
        );
        let r = ApiError::internal("SQLite: disk I/O error at /var/lib/hale", "internal error");
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(
            !format!("{r:?}").contains("SQLite"),
            "no detail for the client"
        );
    }
}
