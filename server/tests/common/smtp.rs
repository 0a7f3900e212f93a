//! A real SMTP server for tests: it listens on a port of 127.0.0.1, speaks
//! enough SMTP for any client (EHLO, MAIL, RCPT, DATA, RSET, NOOP, QUIT),
//! keeps every message it accepts, and refuses recipients whose address
//! contains `bounce` (550), as a mail server refuses an unknown mailbox.
//! Started `unavailable(n)`, it turns the first `n` connections away with
//! `421` (a server that is busy or going down: try again later).
//! [`black_hole`] is a mail server that takes connections and never says a
//! word.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

#[derive(Debug, Clone)]
pub struct Received {
    pub from: String,
    pub to: Vec<String>,
    pub data: Vec<u8>,
}

pub struct SmtpSink {
    pub addr: SocketAddr,
    pub received: Arc<Mutex<Vec<Received>>>,
}

impl SmtpSink {
    pub async fn start() -> Self {
        Self::unavailable(0).await
    }

    /// A sink that answers the first `n` connections `421` and closes them.
    pub async fn unavailable(n: usize) -> Self {
        let turn_away = Arc::new(AtomicUsize::new(n));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let received: Arc<Mutex<Vec<Received>>> = Arc::default();
        let store = received.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let store = store.clone();
                if turn_away.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |k| k.checked_sub(1)).is_ok() {
                    let _ = socket.write_all(b"421 4.3.2 sink.test busy, try again later\r\n").await;
                    continue;
                }
                tokio::spawn(async move {
                    let _ = session(socket, store).await;
                });
            }
        });
        Self { addr, received }
    }

    /// Points Kurier's `[smtp]` at this sink.
    pub fn configure(&self, c: &mut kurier::config::Config) {
        c.smtp.host = Some("127.0.0.1".into());
        c.smtp.port = self.addr.port();
        c.smtp.tls = "none".into();
    }

    pub fn messages(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// The e-mails received, parsed: (to, subject, text, html).
    pub fn parsed(&self) -> Vec<(Vec<String>, String, String, String)> {
        self.messages()
            .iter()
            .map(|m| {
                let parsed = mail_parser::MessageParser::default().parse(&m.data).expect("a MIME message");
                (
                    m.to.clone(),
                    parsed.subject().unwrap_or_default().to_owned(),
                    parsed.body_text(0).map(|t| t.into_owned()).unwrap_or_default(),
                    parsed.body_html(0).map(|t| t.into_owned()).unwrap_or_default(),
                )
            })
            .collect()
    }
}

/// A mail server that accepts every connection and then says nothing,
/// ever (not even its greeting), holding the connection open: a server
/// that stalls. Returns its address.
pub async fn black_hole() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    addr
}

async fn session(socket: tokio::net::TcpStream, store: Arc<Mutex<Vec<Received>>>) -> std::io::Result<()> {
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read);
    write.write_all(b"220 sink.test ESMTP\r\n").await?;
    let (mut from, mut to) = (String::new(), Vec::new());
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let upper = line.to_ascii_uppercase();
        let reply: &[u8] = if upper.starts_with("EHLO") {
            b"250-sink.test\r\n250 8BITMIME\r\n"
        } else if upper.starts_with("HELO") || upper.starts_with("NOOP") {
            b"250 OK\r\n"
        } else if upper.starts_with("MAIL FROM:") {
            from = line[10..].trim().to_owned();
            to.clear();
            b"250 OK\r\n"
        } else if upper.starts_with("RCPT TO:") {
            let rcpt = line[8..].trim().trim_start_matches('<').trim_end_matches('>').to_owned();
            if rcpt.contains("bounce") {
                b"550 5.1.1 no such mailbox\r\n"
            } else {
                to.push(rcpt);
                b"250 OK\r\n"
            }
        } else if upper.starts_with("DATA") {
            write.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await?;
            let mut data = Vec::new();
            loop {
                line.clear();
                if lines.read_line(&mut line).await? == 0 {
                    return Ok(());
                }
                if line == ".\r\n" || line == ".\n" {
                    break;
                }
                let l = line.strip_prefix('.').unwrap_or(&line);
                data.extend_from_slice(l.as_bytes());
            }
            store.lock().unwrap().push(Received { from: from.clone(), to: to.clone(), data });
            b"250 OK queued\r\n"
        } else if upper.starts_with("RSET") {
            to.clear();
            b"250 OK\r\n"
        } else if upper.starts_with("QUIT") {
            write.write_all(b"221 bye\r\n").await?;
            return Ok(());
        } else {
            b"502 not implemented\r\n"
        };
        write.write_all(reply).await?;
    }
}
