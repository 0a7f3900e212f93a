//! What a keyword (or a number's default) does with a received message.
//! Stored as JSON in the shape the API takes, checked when saved.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::campaigns::template::MessageTemplate;
use crate::domain::{MessageText, PhoneNumber, Region};
use crate::outbound::{USER_URL_RULE, is_user_url};
use crate::storage::{Email, MAX_GROUP_NAME_LEN, clean_text};

/// Actions one keyword may have at most.
pub const MAX_ACTIONS: usize = 10;

/// One action. Several run in the order given; several replies are sent in
/// that order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    /// Add the sender to a group (created if missing), creating the contact
    /// when the number is not in the address book.
    AddToGroup { group: String },
    /// Take the sender out of a group.
    RemoveFromGroup { group: String },
    /// Answer the sender from the number written to: a `text` or a saved
    /// `template` (id or name), both MiniJinja with `contact.*` and
    /// `data.message.{from,to,text}`, `data.keyword`.
    Reply {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        text: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        template: Option<String>,
    },
    /// Pass the message on: to a webhook `url` (signed JSON, retried), to
    /// a `phone` by SMS or to an `email` address.
    Forward {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        phone: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        email: Option<String>,
    },
    /// Tell a person by SMS (`phone`) or e-mail (`email`), with a `text`
    /// (template as for replies; default: who wrote what).
    Notify {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        phone: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        email: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        text: Option<String>,
    },
    /// Record the message as a vote in a `poll` (id or name): the text
    /// after the keyword names the answer.
    PollAnswer { poll: String },
}

/// A refused action: which field (relative to the action) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionError {
    pub field: &'static str,
    pub message: String,
}

fn err(field: &'static str, message: impl Into<String>) -> ActionError {
    ActionError { field, message: message.into() }
}

impl Action {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::AddToGroup { .. } => "add_to_group",
            Self::RemoveFromGroup { .. } => "remove_from_group",
            Self::Reply { .. } => "reply",
            Self::Forward { .. } => "forward",
            Self::Notify { .. } => "notify",
            Self::PollAnswer { .. } => "poll_answer",
        }
    }

    /// Checks the action and puts it in canonical form (trimmed group
    /// names, E.164 numbers). `fields` are the account's custom fields,
    /// which templates may read; a reply text without template syntax is
    /// sent as it is, so it must fit `max_segments`. A `template`
    /// reference is checked by the caller, who can look it up.
    pub fn checked(
        self,
        region: Option<Region>,
        fields: &[String],
        max_segments: usize,
    ) -> Result<Self, ActionError> {
        let group = |g: String| -> Result<String, ActionError> {
            clean_text(&g, MAX_GROUP_NAME_LEN, false)
                .map_err(|e| err("group", format!("the group name {e}")))?
                .ok_or_else(|| err("group", "may not be empty"))
        };
        let phone = |p: &str| -> Result<String, ActionError> {
            PhoneNumber::parse(p, region)
                .map(|p| p.as_str().to_owned())
                .map_err(|e| err("phone", e.to_string()))
        };
        let email = |e: &str| -> Result<String, ActionError> {
            Email::parse(e).map(|e| e.as_str().to_owned()).map_err(|e| err("email", e.to_string()))
        };
        let text = |t: Option<String>| -> Result<Option<String>, ActionError> {
            match t {
                Some(t) if t.trim().is_empty() => Err(err("text", "may not be empty")),
                Some(t) => {
                    MessageTemplate::parse(&t, fields).map_err(|e| err("text", e.to_string()))?;
                    Ok(Some(t))
                }
                None => Ok(None),
            }
        };
        Ok(match self {
            Self::AddToGroup { group: g } => Self::AddToGroup { group: group(g)? },
            Self::RemoveFromGroup { group: g } => Self::RemoveFromGroup { group: group(g)? },
            Self::Reply { text: t, template } => match (t, template) {
                (Some(_), Some(_)) => return Err(err("template", "give a text or a template, not both")),
                (None, None) => return Err(err("text", "a reply needs a text or a template")),
                (t, template) => {
                    let t = text(t)?;
                    if let Some(t) = t.as_deref().filter(|t| !MessageTemplate::has_syntax(t)) {
                        MessageText::check_saved(t, max_segments).map_err(|e| err("text", e.to_string()))?;
                    }
                    Self::Reply { text: t, template }
                }
            },
            Self::Forward { url, phone: p, email: e } => {
                if [url.is_some(), p.is_some(), e.is_some()].iter().filter(|given| **given).count() != 1 {
                    return Err(err("url", "a forward needs exactly one of url, phone or email"));
                }
                if url.as_deref().is_some_and(|u| !is_user_url(u)) {
                    return Err(err("url", USER_URL_RULE));
                }
                Self::Forward {
                    url,
                    phone: p.as_deref().map(phone).transpose()?,
                    email: e.as_deref().map(email).transpose()?,
                }
            }
            Self::Notify { phone: p, email: e, text: t } => {
                if p.is_some() == e.is_some() {
                    return Err(err("phone", "notify needs exactly one of phone or email"));
                }
                Self::Notify {
                    phone: p.as_deref().map(phone).transpose()?,
                    email: e.as_deref().map(email).transpose()?,
                    text: text(t)?,
                }
            }
            Self::PollAnswer { poll } if poll.trim().is_empty() => {
                return Err(err("poll", "may not be empty"));
            }
            Self::PollAnswer { poll } => Self::PollAnswer { poll: poll.trim().to_owned() },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<Action, String> {
        serde_json::from_str::<Action>(json).map_err(|e| e.to_string())
    }

    #[test]
    fn actions_read_from_json_and_are_checked() {
        let ok = [
            r#"{"type":"add_to_group","group":" Pizza "}"#,
            r#"{"type":"reply","text":"Hi {{ contact.first_name }}, you wrote {{ data.message.text }}"}"#,
            r#"{"type":"reply","template":"Welcome"}"#,
            r#"{"type":"forward","url":"https://example.com/in"}"#,
            r#"{"type":"forward","phone":"+48 600 100 200"}"#,
            r#"{"type":"notify","phone":"+48600100200"}"#,
            r#"{"type":"forward","email":"Desk@Example.COM"}"#,
            r#"{"type":"notify","email":"boss@example.com","text":"{{ data.message.from }} wrote"}"#,
            r#"{"type":"poll_answer","poll":"Lunch"}"#,
        ];
        for j in ok {
            parse(j).unwrap().checked(None, &[], 10).unwrap_or_else(|e| panic!("{j}: {e:?}"));
        }
        assert_eq!(
            parse(r#"{"type":"add_to_group","group":" Pizza "}"#).unwrap().checked(None, &[], 10).unwrap(),
            Action::AddToGroup { group: "Pizza".into() }
        );
        let refused = [
            (r#"{"type":"add_to_group","group":"  "}"#, "group"),
            (r#"{"type":"reply"}"#, "text"),
            (r#"{"type":"reply","text":"a","template":"b"}"#, "template"),
            (r#"{"type":"reply","text":"{{ contact.nope }}"}"#, "text"),
            (r#"{"type":"reply","text":"{% if %}"}"#, "text"),
            (r#"{"type":"forward"}"#, "url"),
            (r#"{"type":"forward","url":"ftp://x"}"#, "url"),
            (r#"{"type":"forward","phone":"12"}"#, "phone"),
            (r#"{"type":"notify","phone":"abc"}"#, "phone"),
            (r#"{"type":"notify"}"#, "phone"),
            (r#"{"type":"notify","phone":"+48600100200","email":"a@example.com"}"#, "phone"),
            (r#"{"type":"forward","url":"https://x.example","email":"a@example.com"}"#, "url"),
            (r#"{"type":"forward","email":"not an address"}"#, "email"),
            (r#"{"type":"notify","email":"a@b"}"#, "email"),
            (r#"{"type":"poll_answer","poll":" "}"#, "poll"),
        ];
        for (j, field) in refused {
            let e = parse(j).unwrap().checked(None, &[], 10).unwrap_err();
            assert_eq!(e.field, field, "{j}: {e:?}");
        }
        assert_eq!(
            parse(r#"{"type":"forward","email":"Desk@Example.COM"}"#)
                .unwrap()
                .checked(None, &[], 10)
                .unwrap(),
            Action::Forward { url: None, phone: None, email: Some("Desk@example.com".into()) }
        );
        assert!(parse(r#"{"type":"explode"}"#).is_err());
        assert!(parse(r#"{"type":"add_to_group","group":"a","extra":1}"#).is_err());
    }
}
