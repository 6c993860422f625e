//! The error answers the simulator gives, in Zendesk's own body shape
//! ([`ApiErrorBody`]), so the real client decodes them exactly as it decodes
//! Zendesk's.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::helpdesk::error::{ApiErrorBody, ErrorField, ErrorItem};

/// A refused request: the HTTP status and Zendesk's error body.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// The HTTP status, e.g. 422.
    pub status: u16,
    /// The body Zendesk sends with that status (boxed: errors travel in
    /// `Result`s and should stay small).
    pub body: Box<ApiErrorBody>,
}

impl ApiError {
    /// Any status with an `error` code and a `description`.
    pub fn new(status: u16, error: &str, description: impl Into<String>) -> ApiError {
        ApiError {
            status,
            body: Box::new(ApiErrorBody {
                error: Some(ErrorField::Code(error.to_owned())),
                description: Some(description.into()),
                ..ApiErrorBody::default()
            }),
        }
    }

    /// Zendesk's newer shape, `{"errors": [{"code", "title", "detail"}]}`.
    pub fn errors(status: u16, code: &str, title: &str, detail: &str) -> ApiError {
        ApiError {
            status,
            body: Box::new(ApiErrorBody {
                errors: Some(vec![ErrorItem {
                    code: Some(code.to_owned()),
                    title: Some(title.to_owned()),
                    detail: Some(detail.to_owned()),
                    status: None,
                }]),
                ..ApiErrorBody::default()
            }),
        }
    }

    /// 400 with Zendesk's nested shape for a bad parameter of the search
    /// endpoints, `{"error": {"title": "Invalid attribute", "message": ...}}`
    /// (the body quoted in Zendesk's community, posts 5981990015514 and
    /// 4467682277402).
    pub fn invalid_attribute(message: impl Into<String>) -> ApiError {
        ApiError {
            status: 400,
            body: Box::new(ApiErrorBody {
                error: Some(ErrorField::Object {
                    title: Some("Invalid attribute".to_owned()),
                    message: Some(message.into()),
                }),
                ..ApiErrorBody::default()
            }),
        }
    }

    /// 404 for a record that does not exist.
    pub fn not_found() -> ApiError {
        ApiError::new(404, "RecordNotFound", "Not found")
    }

    /// 404 for a method and path the simulator does not serve. Zendesk
    /// answers `{"error":"InvalidEndpoint","description":"Not found"}`
    /// (recorded in cloudbees-oss/zendesk-java-client issue #111 and
    /// facetoe/zenpy issue #484); the simulator keeps that shape and names
    /// the endpoint, so a test that reaches a missing one says which.
    pub fn no_endpoint(method: &str, path: &str) -> ApiError {
        ApiError::new(
            404,
            "InvalidEndpoint",
            format!("Not found: {method} {path} is not an endpoint the simulator serves"),
        )
    }

    /// 401 when the request carries no usable credentials.
    pub fn unauthenticated() -> ApiError {
        ApiError {
            status: 401,
            body: Box::new(ApiErrorBody {
                error: Some(ErrorField::Code("Couldn't authenticate you".to_owned())),
                ..ApiErrorBody::default()
            }),
        }
    }

    /// 409 for a `safe_update` whose `updated_stamp` is stale.
    pub fn conflict() -> ApiError {
        ApiError::new(
            409,
            "UpdateConflict",
            "Safe Update prevented the update due to outdated ticket data. \
             Please fetch the latest ticket data and try again.",
        )
    }

    /// 429 once the request budget is spent.
    pub fn rate_limited() -> ApiError {
        ApiError::new(
            429,
            "APIRateLimitExceeded",
            "Number of allowed API requests per minute exceeded",
        )
    }

    /// 400 for a body that is not JSON.
    pub fn invalid_json(detail: impl std::fmt::Display) -> ApiError {
        ApiError::new(
            400,
            "InvalidJSON",
            format!("Server could not parse JSON: {detail}"),
        )
    }

    /// 422 `RecordInvalid` with one problem on `field`, as Zendesk reports
    /// validation errors: `details.{field}[0].description`.
    pub fn invalid(field: &str, description: impl Into<String>) -> ApiError {
        let description: String = description.into();
        ApiError {
            status: 422,
            body: Box::new(ApiErrorBody {
                error: Some(ErrorField::Code("RecordInvalid".to_owned())),
                description: Some("Record validation errors".to_owned()),
                details: Some(json!({
                    field: [{ "description": description, "error": "InvalidValue" }]
                })),
                ..ApiErrorBody::default()
            }),
        }
    }

    /// 422 `RecordInvalid` with one problem on `field` and its own error
    /// code, e.g. `ValueTooShort` or `DuplicateValue`.
    pub fn invalid_with(field: &str, code: &str, description: impl Into<String>) -> ApiError {
        let description: String = description.into();
        ApiError {
            status: 422,
            body: Box::new(ApiErrorBody {
                error: Some(ErrorField::Code("RecordInvalid".to_owned())),
                description: Some("Record validation errors".to_owned()),
                details: Some(json!({
                    field: [{ "description": description, "error": code }]
                })),
                ..ApiErrorBody::default()
            }),
        }
    }

    /// 422 `RecordInvalid` with one problem under `details.base`, as
    /// Zendesk refuses a trigger's condition: `{"error":"RecordInvalid",
    /// "description":"Record validation errors","details":{"base":[
    /// {"description":"Invalid value 'web' in 'Update via / Is not /
    /// web'"}]}}` (recorded in Speedygeek/ZendeskApi_v2 issue #226).
    pub fn invalid_base(description: impl Into<String>) -> ApiError {
        let description: String = description.into();
        ApiError {
            status: 422,
            body: Box::new(ApiErrorBody {
                error: Some(ErrorField::Code("RecordInvalid".to_owned())),
                description: Some("Record validation errors".to_owned()),
                details: Some(json!({ "base": [{ "description": description }] })),
                ..ApiErrorBody::default()
            }),
        }
    }

    /// 422 for a closed ticket, which Zendesk never lets anyone change.
    pub fn closed() -> ApiError {
        ApiError::invalid("status", "Status: closed prevents ticket update")
    }

    /// 422 for a solve (or close) of a ticket without an assignee, under
    /// `details.base` as a real account answers it (a recorded live
    /// response: `{"error":"RecordInvalid","description":"Record
    /// validation errors","details":{"base":[{"description":"Assignee: is
    /// required when solving a ticket","error":null,"ticket_field_id":…,
    /// "ticket_field_type":"FieldAssignee"}]}}`).
    pub fn assignee_required(ticket_field_id: Option<u64>) -> ApiError {
        let mut problem = json!({
            "description": "Assignee: is required when solving a ticket",
            "error": null,
            "ticket_field_type": "FieldAssignee",
        });
        if let Some(id) = ticket_field_id {
            problem["ticket_field_id"] = json!(id);
        }
        ApiError {
            status: 422,
            body: Box::new(ApiErrorBody {
                error: Some(ErrorField::Code("RecordInvalid".to_owned())),
                description: Some("Record validation errors".to_owned()),
                details: Some(json!({ "base": [problem] })),
                ..ApiErrorBody::default()
            }),
        }
    }

    /// The one-line `details` text of a validation error, for job results.
    pub fn detail_text(&self) -> String {
        let from_details = self.body.details.as_ref().and_then(|details| {
            details
                .as_object()?
                .values()
                .find_map(|problems| problems.get(0)?.get("description")?.as_str().map(str::to_owned))
        });
        from_details
            .or_else(|| self.body.description.clone())
            .unwrap_or_default()
    }

    /// The `error` code, e.g. `RecordInvalid`.
    pub fn code(&self) -> String {
        match &self.body.error {
            Some(ErrorField::Code(code)) => code.clone(),
            Some(ErrorField::Object { title, .. }) => title.clone().unwrap_or_default(),
            None => self
                .body
                .errors
                .iter()
                .flatten()
                .find_map(|item| item.code.clone())
                .unwrap_or_default(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, Json(*self.body)).into_response()
    }
}
