//! Outbound e-mail over SMTP (`[smtp]`): one message at a time, text with
//! an optional HTML alternative and attachments. It owns talking SMTP and
//! telling a refusal (the server said no: bounce) from a failure worth
//! retrying; queueing and retrying are its callers' business — the
//! notification worker's, and `outbox`'s for e-mails about received
//! messages.

pub mod outbox;

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::SmtpConfig;

/// One e-mail to send.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
    pub attachments: Vec<MailAttachment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailAttachment {
    pub filename: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum MailError {
    #[error("e-mail is not configured (set smtp.host)")]
    NotConfigured,
    #[error("'{0}' is not an e-mail address")]
    BadAddress(String),
    /// The server refused the message for good (a bounce): do not retry.
    #[error("the mail server refused the message: {0}")]
    Refused(String),
    /// Worth another try later (connection, timeout, 4xx).
    #[error("sending failed: {0}")]
    Failed(String),
}

impl MailError {
    pub fn is_permanent(&self) -> bool {
        matches!(self, Self::NotConfigured | Self::BadAddress(_) | Self::Refused(_))
    }
}

#[derive(Clone)]
pub struct Mailer {
    transport: Option<AsyncSmtpTransport<Tokio1Executor>>,
    from: Mailbox,
    /// Time limit of one SMTP conversation (`smtp.timeout_secs`), from
    /// connecting to the server's last answer.
    timeout: Duration,
}

impl Mailer {
    pub fn new(config: &SmtpConfig) -> anyhow::Result<Self> {
        let from: Mailbox =
            config.from.parse().map_err(|e| anyhow::anyhow!("smtp.from '{}': {e}", config.from))?;
        let timeout = Duration::from_secs(config.timeout_secs.max(1));
        let Some(host) = config.host.as_deref().filter(|h| !h.is_empty()) else {
            return Ok(Self { transport: None, from, timeout });
        };
        let builder = match config.tls.as_str() {
            "tls" => AsyncSmtpTransport::<Tokio1Executor>::relay(host)?,
            "none" => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
            _ => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host)?,
        };
        // lettre's own timeout bounds the connect only; `send` bounds the
        // rest (TLS handshake, every command, the data).
        let mut builder = builder.port(config.port).timeout(Some(timeout));
        if let (Some(user), Some(password)) = (&config.username, &config.password) {
            builder = builder.credentials(Credentials::new(user.clone(), password.expose().to_owned()));
        }
        Ok(Self { transport: Some(builder.build()), from, timeout })
    }

    pub fn is_configured(&self) -> bool {
        self.transport.is_some()
    }

    /// How long one SMTP conversation may take at most.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Sends `email` in one SMTP conversation of at most `smtp.timeout_secs`:
    /// a server that accepts the connection and then stalls (in the TLS
    /// handshake, at any command, in the data) is a failure worth retrying.
    pub async fn send(&self, email: &Email) -> Result<(), MailError> {
        let transport = self.transport.as_ref().ok_or(MailError::NotConfigured)?;
        let to: Mailbox = email.to.parse().map_err(|_| MailError::BadAddress(email.to.clone()))?;
        let message = build(&self.from, to, email).map_err(|e| MailError::Refused(e.to_string()))?;
        match tokio::time::timeout(self.timeout, transport.send(message)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) if e.is_permanent() => Err(MailError::Refused(e.to_string())),
            Ok(Err(e)) => Err(MailError::Failed(e.to_string())),
            Err(_) => Err(MailError::Failed(format!(
                "the mail server did not finish within {}s (smtp.timeout_secs)",
                self.timeout.as_secs()
            ))),
        }
    }
}

fn build(from: &Mailbox, to: Mailbox, email: &Email) -> Result<Message, lettre::error::Error> {
    let builder = Message::builder().from(from.clone()).to(to).subject(email.subject.clone());
    let body = match &email.html {
        Some(html) => MultiPart::alternative_plain_html(email.text.clone(), html.clone()),
        None => MultiPart::mixed().singlepart(SinglePart::plain(email.text.clone())),
    };
    if email.attachments.is_empty() {
        return builder.multipart(body);
    }
    let mut mixed = MultiPart::mixed().multipart(body);
    for a in &email.attachments {
        let content_type = ContentType::parse(&a.content_type)
            .unwrap_or_else(|_| ContentType::parse("application/octet-stream").expect("valid"));
        mixed = mixed.singlepart(Attachment::new(a.filename.clone()).body(a.bytes.clone(), content_type));
    }
    builder.multipart(mixed)
}
