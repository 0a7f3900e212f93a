//! Reading request bodies: content type, size limit and JSON syntax, each
//! failure answered with its own clear JSON error.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// A JSON body read into `T`; a type mismatch names the field at fault.
pub struct JsonBody<T> {
    pub value: T,
    /// The raw bytes, e.g. to fingerprint the request for idempotency.
    pub raw: Bytes,
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase());
        let raw = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body_too_large",
                    "the request body is too large",
                )
            } else {
                ApiError::new(StatusCode::BAD_REQUEST, "unreadable_body", rejection.body_text())
            }
        })?;
        let is_json = match content_type.as_deref() {
            Some(t) => t == "application/json" || t.ends_with("+json"),
            None => false,
        };
        // `curl -d '{...}'` labels JSON as a form; accept JSON text so sent.
        let looks_like_json = raw.iter().find(|b| !b.is_ascii_whitespace()).is_some_and(|b| *b == b'{');
        let form_with_json =
            content_type.as_deref() == Some("application/x-www-form-urlencoded") && looks_like_json;
        if !is_json && !form_with_json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as JSON with Content-Type: application/json",
            ));
        }
        if !looks_like_json {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "malformed_json",
                "the body must be a JSON object",
            ));
        }
        let mut de = serde_json::Deserializer::from_slice(&raw);
        let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if inner.is_syntax() || inner.is_eof() || path == "." {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "malformed_json",
                    format!("the body is not valid JSON: {inner}"),
                )
            } else {
                ApiError::field(path, inner.to_string())
            }
        })?;
        de.end().map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "malformed_json",
                format!("the body is not valid JSON: {e}"),
            )
        })?;
        if holds_nul_escape(&raw) {
            let path = serde_json::from_slice::<serde_json::Value>(&raw).ok().and_then(|v| nul_path(&v));
            return Err(nul_refusal(path));
        }
        Ok(Self { value, raw })
    }
}

/// Refuses a body built from a form (the UI's) that holds a NUL character,
/// at its field, as a JSON body holding one is refused.
pub(crate) fn refuse_nul(value: &serde_json::Value) -> Result<(), ApiError> {
    match nul_path(value) {
        Some(path) => Err(nul_refusal(Some(path))),
        None => Ok(()),
    }
}

fn nul_refusal(path: Option<String>) -> ApiError {
    let path = path.filter(|p| !p.is_empty()).unwrap_or_else(|| ".".into());
    ApiError::field(path, "must not hold a NUL character (\\u0000)")
}

/// Whether JSON text escapes a NUL character (`\u0000` after an odd run of
/// backslashes; an escaped backslash before `u0000` is text). No value of
/// the API may hold one: PostgreSQL refuses it in text and in JSON, and
/// the same body must get the same answer on both backends.
fn holds_nul_escape(raw: &[u8]) -> bool {
    let mut backslashes = 0usize;
    for (i, &b) in raw.iter().enumerate() {
        if b == b'\\' {
            backslashes += 1;
            continue;
        }
        if b == b'u' && backslashes % 2 == 1 && raw.get(i + 1..i + 5) == Some(b"0000".as_slice()) {
            return true;
        }
        backslashes = 0;
    }
    false
}

/// Where the first NUL character is in `value`, as a field path
/// (`messages[0].text`; empty for the value itself).
fn nul_path(value: &serde_json::Value) -> Option<String> {
    use serde_json::Value;
    let below =
        |rest: String| if rest.is_empty() || rest.starts_with('[') { rest } else { format!(".{rest}") };
    match value {
        Value::String(s) => s.contains('\0').then(String::new),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| nul_path(item).map(|rest| format!("[{i}]{}", below(rest)))),
        Value::Object(map) => map.iter().find_map(|(key, item)| {
            if key.contains('\0') {
                return Some(key.replace('\0', "\\u0000"));
            }
            nul_path(item).map(|rest| format!("{key}{}", below(rest)))
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nul_escape_is_found_where_it_is() {
        let body = br#"{"messages": [{"to": "+48600100200", "text": "Hi\u0000"}]}"#;
        assert!(holds_nul_escape(body));
        let value: serde_json::Value = serde_json::from_slice(body).unwrap();
        assert_eq!(nul_path(&value).as_deref(), Some("messages[0].text"));
        // An escaped backslash followed by u0000 is six characters of text.
        assert!(!holds_nul_escape(br#"{"text": "C:\\u0000"}"#));
        assert!(holds_nul_escape(br#"{"text": "C:\\\u0000"}"#));
    }
}
