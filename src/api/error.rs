//! Error answers: every failure is `{"error": "…"}` with the status that
//! says what kind of failure it is (cronduct.toml(5) ADMIN API), never an
//! empty body.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::config::ConfigErrors;
use crate::daemon::control::ControlError;
use crate::wire::ErrorBody;

/// A refused request, ready to be answered.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    body: ErrorBody,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            body: ErrorBody {
                error: message.into(),
                errors: None,
                diagnostics: None,
            },
        }
    }

    /// A malformed or out-of-range parameter (400).
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// A refused reload (422), with each validation error.
    pub(crate) fn invalid_config(errors: ConfigErrors) -> Self {
        Self::invalid_config_with("invalid configuration; the old jobs keep running", errors)
    }

    /// A 422 saying `message`, with each validation error.
    pub(crate) fn invalid_config_with(message: &str, errors: ConfigErrors) -> Self {
        Self {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            body: ErrorBody {
                error: message.into(),
                errors: Some(errors.errors),
                diagnostics: Some(errors.items),
            },
        }
    }

    /// The answer's status.
    pub(crate) fn status(&self) -> StatusCode {
        self.status
    }

    /// What the answer's `error` says.
    pub(crate) fn message(&self) -> &str {
        &self.body.error
    }

    /// The scheduler did not answer or is shutting down (503).
    pub(crate) fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, message)
    }
}

impl From<ControlError> for ApiError {
    fn from(e: ControlError) -> Self {
        let status = match e {
            ControlError::UnknownJob(_) => StatusCode::NOT_FOUND,
            ControlError::Conflict(_) => StatusCode::CONFLICT,
            ControlError::Stopped => StatusCode::SERVICE_UNAVAILABLE,
        };
        Self::new(status, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = (self.status, axum::Json(self.body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"cronduct\""),
            );
        }
        resp
    }
}
