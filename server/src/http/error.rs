//! The one place where errors become HTTP answers. Every error is JSON,
//! `{"error": {"code", "message", "field"?}}`, with a fitting status; a
//! client never sees internals (those are logged instead).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::storage::StoreError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `invalid_field`.
    pub code: String,
    pub message: String,
    /// The request field at fault, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), field: None }
    }

    /// A request field with a bad value (422).
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: Some(field.into()),
            ..Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", message)
        }
    }

    /// A query parameter with a bad value (400).
    pub fn query(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: Some(field.into()), ..Self::new(StatusCode::BAD_REQUEST, "invalid_parameter", message) }
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", format!("no such {what}"))
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn internal(error: impl std::fmt::Display) -> Self {
        tracing::error!(%error, "internal error answering a request");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error; see the server log")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail { code: self.code.to_owned(), message: self.message, field: self.field },
        };
        (self.status, Json(body)).into_response()
    }
}

impl From<crate::campaigns::CampaignError> for ApiError {
    fn from(e: crate::campaigns::CampaignError) -> Self {
        use crate::campaigns::CampaignError;
        match e {
            CampaignError::Invalid { field, message } => Self::field(field, message),
            CampaignError::Conflict(message) => Self::new(StatusCode::CONFLICT, "conflict", message),
            CampaignError::NotPermitted(message) => {
                Self::new(StatusCode::FORBIDDEN, "recipient_not_permitted", message)
            }
            CampaignError::Store(e) => e.into(),
        }
    }
}

impl From<crate::storage::ChargeRefusal> for ApiError {
    fn from(e: crate::storage::ChargeRefusal) -> Self {
        use crate::storage::ChargeRefusal;
        let message = e.to_string();
        match e {
            ChargeRefusal::InsufficientBalance { .. } => {
                Self::new(StatusCode::PAYMENT_REQUIRED, "insufficient_balance", message)
            }
            ChargeRefusal::NoPrice { .. } => Self {
                field: Some("to".into()),
                ..Self::new(StatusCode::UNPROCESSABLE_ENTITY, "no_price", message)
            },
            ChargeRefusal::QuotaExceeded { .. } => {
                Self::new(StatusCode::TOO_MANY_REQUESTS, "quota_exceeded", message)
            }
        }
    }
}

impl From<crate::storage::BillingError> for ApiError {
    fn from(e: crate::storage::BillingError) -> Self {
        use crate::storage::BillingError;
        match e {
            BillingError::NameTaken(_) => Self {
                field: Some("name".into()),
                ..Self::new(StatusCode::CONFLICT, "name_taken", e.to_string())
            },
            BillingError::Conflict(m) => Self::new(StatusCode::CONFLICT, "conflict", m),
            BillingError::NotFound(what) => Self::not_found(what),
            BillingError::Database(e) => Self::internal(e),
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        Self::internal(e)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::IdempotencyConflict => Self {
                field: Some("Idempotency-Key".into()),
                ..Self::new(StatusCode::CONFLICT, "idempotency_key_reused", e.to_string())
            },
            StoreError::Closed => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "shutting_down",
                "Kurier is shutting down; nothing was stored, try again",
            ),
            StoreError::Refused(refusal) => refusal.into(),
            StoreError::OptedOut(_) => Self {
                field: Some("to".into()),
                ..Self::new(StatusCode::UNPROCESSABLE_ENTITY, "opted_out", e.to_string())
            },
            StoreError::Database(e) => Self::internal(e),
        }
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        Self::internal(format!("{e:#}"))
    }
}
