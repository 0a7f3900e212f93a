//! A real HTTP endpoint for webhooks, with named misbehaviour: each path
//! answers as its `Behaviour` says and keeps every call (signature header
//! and body), so tests see what a customer's system would see.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// 200 at once.
    Happy,
    /// Holds the first `n` calls for `hold` (longer than Kurier waits),
    /// then answers 200.
    HangFirst(usize, Duration),
    /// 500 for the first `n` calls, then 200.
    FailFirst(usize),
    /// 500 until told otherwise.
    Broken,
}

#[derive(Debug, Clone)]
pub struct Call {
    pub signature: String,
    pub body: String,
}

#[derive(Default)]
struct State {
    behaviour: HashMap<String, Behaviour>,
    calls: HashMap<String, Vec<Call>>,
}

#[derive(Clone)]
pub struct Endpoints {
    base: String,
    state: Arc<Mutex<State>>,
}

impl Endpoints {
    pub async fn start() -> Self {
        let state: Arc<Mutex<State>> = Arc::default();
        let shared = state.clone();
        let app = Router::new().route(
            "/{name}",
            post(move |Path(name): Path<String>, headers: HeaderMap, body: Bytes| {
                let shared = shared.clone();
                async move {
                    let signature = headers
                        .get("x-kurier-signature")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_owned();
                    let (behaviour, n) = {
                        let mut s = shared.lock().unwrap();
                        let behaviour = s.behaviour.get(&name).copied().unwrap_or(Behaviour::Happy);
                        let calls = s.calls.entry(name).or_default();
                        calls.push(Call { signature, body: String::from_utf8_lossy(&body).into_owned() });
                        (behaviour, calls.len())
                    };
                    match behaviour {
                        Behaviour::Happy => StatusCode::OK,
                        Behaviour::HangFirst(k, hold) if n <= k => {
                            tokio::time::sleep(hold).await;
                            StatusCode::OK
                        }
                        Behaviour::HangFirst(..) => StatusCode::OK,
                        Behaviour::FailFirst(k) if n <= k => StatusCode::INTERNAL_SERVER_ERROR,
                        Behaviour::FailFirst(_) => StatusCode::OK,
                        Behaviour::Broken => StatusCode::INTERNAL_SERVER_ERROR,
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { base, state }
    }

    /// The URL of an endpoint that behaves as told.
    pub fn url(&self, name: &str, behaviour: Behaviour) -> String {
        self.state.lock().unwrap().behaviour.insert(name.to_owned(), behaviour);
        format!("{}/{name}", self.base)
    }

    pub fn set(&self, name: &str, behaviour: Behaviour) {
        self.state.lock().unwrap().behaviour.insert(name.to_owned(), behaviour);
    }

    pub fn calls(&self, name: &str) -> Vec<Call> {
        self.state.lock().unwrap().calls.get(name).cloned().unwrap_or_default()
    }
}
