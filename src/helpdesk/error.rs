//! The errors a helpdesk call can end in, typed so that callers can branch:
//! a `Conflict` means "re-read and re-plan", `RateLimited` means "later",
//! `Unprocessable` carries Zendesk's own explanation.
//!
//! Every variant names the endpoint (as a template such as
//! `PUT /api/v2/tickets/{id}`) so a log line says which call failed.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Why a helpdesk call failed.
#[derive(Debug, thiserror::Error)]
pub enum HelpDeskError {
    /// 404: the record does not exist (or is not visible to us).
    #[error("{endpoint}: not found{}", detail_suffix(.message))]
    NotFound { endpoint: String, message: String },

    /// 409 on a `safe_update`: the ticket changed after we read it.
    /// `after_retry` is set when the write was retried after an ambiguous
    /// failure, in which case the change that moved the ticket on may be
    /// our own first attempt.
    #[error("{endpoint}: the ticket changed since it was read (409 conflict){}", if *.after_retry { ", after a retried write" } else { "" })]
    Conflict { endpoint: String, after_retry: bool },

    /// 422 (or 400): Zendesk refused the write and said why.
    #[error("{endpoint}: rejected (HTTP {status}): {message}")]
    Unprocessable {
        endpoint: String,
        status: u16,
        message: String,
        /// Zendesk's `details` object, field by field.
        details: Option<Value>,
    },

    /// 429 that outlasted the client's patience.
    #[error("{endpoint}: rate limited{}", .retry_after.map(|d| format!(", retry after {}s", d.as_secs())).unwrap_or_default())]
    RateLimited {
        endpoint: String,
        retry_after: Option<Duration>,
    },

    /// 401 or 403: the credentials are wrong or lack the permission.
    #[error("{endpoint}: not authorised (HTTP {status}): {message}; check zendesk.email and the API token")]
    Unauthorized {
        endpoint: String,
        status: u16,
        message: String,
    },

    /// The request did not get a usable answer: connection refused, timeout,
    /// or a 5xx that persisted through every retry.
    #[error("{endpoint}: {message}")]
    Transport { endpoint: String, message: String },

    /// The answer arrived but does not have the shape Zendesk documents.
    #[error("{endpoint}: unexpected response: {message}")]
    Decode { endpoint: String, message: String },
}

fn detail_suffix(message: &str) -> String {
    if message.is_empty() {
        String::new()
    } else {
        format!(": {message}")
    }
}

impl HelpDeskError {
    /// The endpoint template the failed call was made to.
    pub fn endpoint(&self) -> &str {
        match self {
            HelpDeskError::NotFound { endpoint, .. }
            | HelpDeskError::Conflict { endpoint, .. }
            | HelpDeskError::Unprocessable { endpoint, .. }
            | HelpDeskError::RateLimited { endpoint, .. }
            | HelpDeskError::Unauthorized { endpoint, .. }
            | HelpDeskError::Transport { endpoint, .. }
            | HelpDeskError::Decode { endpoint, .. } => endpoint,
        }
    }

    /// Classifies a non-2xx answer. `retry_after` comes from the header.
    pub fn from_status(
        endpoint: &str,
        status: u16,
        body: Option<&ApiErrorBody>,
        retry_after: Option<Duration>,
    ) -> HelpDeskError {
        let endpoint = endpoint.to_owned();
        let message = body.map(ApiErrorBody::summary).unwrap_or_default();
        match status {
            401 | 403 => HelpDeskError::Unauthorized {
                endpoint,
                status,
                message,
            },
            404 => HelpDeskError::NotFound { endpoint, message },
            409 => HelpDeskError::Conflict {
                endpoint,
                after_retry: false,
            },
            429 => HelpDeskError::RateLimited {
                endpoint,
                retry_after,
            },
            400..=499 => HelpDeskError::Unprocessable {
                endpoint,
                status,
                message,
                details: body.and_then(|b| b.details.clone()),
            },
            _ => HelpDeskError::Transport {
                endpoint,
                message: format!("server error (HTTP {status}){}", detail_suffix(&message)),
            },
        }
    }
}

/// The body Zendesk sends with a 4xx. Its shapes vary by endpoint:
/// `{"error": "RecordInvalid", "description": "...", "details": {...}}`,
/// `{"error": {"title": "...", "message": "..."}}`, or the newer
/// `{"errors": [{"code": "...", "title": "...", "detail": "..."}]}`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ApiErrorBody {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorField>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<ErrorItem>>,
}

/// The `error` member: a code string, or an object with a title.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ErrorField {
    Code(String),
    Object {
        #[serde(default)]
        title: Option<String>,
        #[serde(default)]
        message: Option<String>,
    },
}

/// One item of the `errors` array.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorItem {
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub detail: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

impl ApiErrorBody {
    /// Decodes an error body; `None` when it has none of Zendesk's shapes.
    pub fn parse(bytes: &[u8]) -> Option<ApiErrorBody> {
        let body: ApiErrorBody = serde_json::from_slice(bytes).ok()?;
        let recognised = body.error.is_some() || body.errors.is_some() || body.description.is_some();
        recognised.then_some(body)
    }

    /// A one-line summary for logs and error messages.
    pub fn summary(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        match &self.error {
            Some(ErrorField::Code(code)) => parts.push(code.clone()),
            Some(ErrorField::Object { title, message }) => {
                parts.extend(title.iter().cloned());
                parts.extend(message.iter().cloned());
            }
            None => {}
        }
        parts.extend(self.description.iter().cloned());
        for item in self.errors.iter().flatten() {
            let text = [&item.code, &item.title, &item.detail]
                .into_iter()
                .flatten()
                .cloned()
                .collect::<Vec<_>>()
                .join(" ");
            parts.push(text);
        }
        if let Some(details) = &self.details {
            parts.push(details_summary(details));
        }
        parts.retain(|p| !p.is_empty());
        parts.join(": ")
    }
}

/// `{"base": [{"description": "..."}], "status": [...]}` → `base: ...; status: ...`
fn details_summary(details: &Value) -> String {
    let Some(map) = details.as_object() else {
        return details.to_string();
    };
    map.iter()
        .map(|(field, problems)| {
            let texts: Vec<String> = match problems {
                Value::Array(items) => items
                    .iter()
                    .map(|item| {
                        item.get("description")
                            .and_then(Value::as_str)
                            .map(str::to_owned)
                            .unwrap_or_else(|| item.to_string())
                    })
                    .collect(),
                other => vec![other.to_string()],
            };
            format!("{field}: {}", texts.join(", "))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_invalid_keeps_details_and_summarises_them() {
        let body = ApiErrorBody::parse(
            br#"{"error":"RecordInvalid","description":"Record validation errors",
                "details":{"status":[{"description":"Status: closed prevents ticket update","error":"InvalidValue"}]}}"#,
        )
        .expect("a Zendesk error body");
        let err = HelpDeskError::from_status("PUT /api/v2/tickets/{id}", 422, Some(&body), None);
        assert_eq!(
            err.to_string(),
            "PUT /api/v2/tickets/{id}: rejected (HTTP 422): RecordInvalid: Record validation errors: \
             status: Status: closed prevents ticket update"
        );
        let HelpDeskError::Unprocessable { details, .. } = err else {
            panic!("422 must be Unprocessable, got {err:?}");
        };
        assert!(details.is_some_and(|d| d.get("status").is_some()));
    }

    #[test]
    fn object_error_and_errors_array_are_recognised() {
        let obj =
            ApiErrorBody::parse(br#"{"error":{"title":"Forbidden","message":"You do not have access"}}"#)
                .expect("object error");
        assert_eq!(obj.summary(), "Forbidden: You do not have access");
        let arr = ApiErrorBody::parse(br#"{"errors":[{"code":"TooManyRequests","title":"Too many"}]}"#)
            .expect("errors array");
        assert_eq!(arr.summary(), "TooManyRequests Too many");
    }

    #[test]
    fn a_body_without_any_error_shape_is_not_an_error_body() {
        assert_eq!(ApiErrorBody::parse(br#"{"ticket":{"id":1}}"#), None);
        assert_eq!(ApiErrorBody::parse(b"<html>502</html>"), None);
    }
}
