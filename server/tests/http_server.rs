//! The HTTP listener's own limits, as a client meets them over TCP: a
//! client that sends its headers too slowly is cut off, and connections
//! beyond `server.max_http_connections` wait until one closes.

mod common;

use std::time::Duration;

use common::{Backend, TestApp};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::time::timeout;

const HEALTH: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: kurier\r\n\r\n";

/// Reads what the server sends until it closes or `within` passes; `None`
/// when it neither answered nor closed in time.
async fn read_until_closed(tcp: &mut TcpStream, within: Duration) -> Option<String> {
    let mut got = Vec::new();
    let read = timeout(within, async {
        let mut buf = [0u8; 4096];
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    read.ok().map(|()| String::from_utf8_lossy(&got).into_owned())
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_cut_off() {
    let app = TestApp::start_with(&Backend::Sqlite, |c| c.server.http_header_timeout_secs = 1).await;
    let mut slow = TcpStream::connect(app.app.as_ref().unwrap().local_addr()).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: kur").await.unwrap();
    let closed = read_until_closed(&mut slow, Duration::from_secs(20)).await;
    assert!(closed.is_some(), "the connection is closed after the header timeout");
    assert!(!closed.unwrap().contains("200 OK"), "and nothing was served");
    // Whoever sends a whole request in time is served as before.
    let (status, _) = app.get("/healthz").await;
    assert_eq!(status, 200);
    app.stop().await;
}

#[tokio::test]
async fn connections_past_the_limit_wait_until_one_closes() {
    let app = TestApp::start_with(&Backend::Sqlite, |c| c.server.max_http_connections = 2).await;
    let addr = app.app.as_ref().unwrap().local_addr();
    let mut first = TcpStream::connect(addr).await.unwrap();
    first.write_all(HEALTH).await.unwrap();
    let mut buf = [0u8; 1024];
    let n = first.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).contains("200 OK"), "the first is served and kept alive");
    let second = TcpStream::connect(addr).await.unwrap();
    // The third connects (the kernel's backlog takes it) but is not served
    // while two are open.
    let mut third = TcpStream::connect(addr).await.unwrap();
    third.write_all(HEALTH).await.unwrap();
    let early = timeout(Duration::from_millis(500), third.read(&mut buf)).await;
    assert!(early.is_err(), "the third waits while two connections are open");
    drop(second);
    let n = timeout(Duration::from_secs(10), third.read(&mut buf))
        .await
        .expect("served once one closed")
        .unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).contains("200 OK"));
    drop(first);
    app.stop().await;
}
