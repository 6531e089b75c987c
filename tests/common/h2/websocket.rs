//! A WebSocket peer for tests: [`WsBackend`], a tokio-tungstenite server
//! that echoes, closes or refuses by path and records the close frames it
//! receives, and the WebSocket settings both ends use.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use futures_util::{SinkExt, StreamExt};
use http::HeaderValue;
use tokio_tungstenite::tungstenite;

use super::{AbortOnDrop, bind, serve_each};

/// WebSocket settings allowing messages and frames up to 64 MiB.
pub fn ws_config() -> tungstenite::protocol::WebSocketConfig {
    tungstenite::protocol::WebSocketConfig::default()
        .max_message_size(Some(64 << 20))
        .max_frame_size(Some(64 << 20))
}

/// A tokio-tungstenite server. Behaviour by request path:
/// - `/ws/close1001`: sends Close(1001 "going away") right after the
///   handshake;
/// - `/ws/forbid`: refuses the handshake with `403`;
/// - anything else: echoes text and binary messages (pings are answered by
///   tungstenite).
///
/// Close frames received from clients are recorded.
pub struct WsBackend {
    pub addr: SocketAddr,
    conns: Arc<AtomicUsize>,
    closes: Arc<Mutex<Vec<(u16, String)>>>,
    _task: AbortOnDrop,
}

impl WsBackend {
    pub async fn start() -> WsBackend {
        let (listener, addr) = bind().await;
        let conns = Arc::new(AtomicUsize::new(0));
        let closes: Arc<Mutex<Vec<(u16, String)>>> = Arc::default();
        let cl = closes.clone();
        let task = serve_each(listener, conns.clone(), move |tcp, _| {
            let cl = cl.clone();
            async move {
                let path = Arc::new(Mutex::new(String::new()));
                let p = path.clone();
                // tungstenite's callback type fixes the (large) error type.
                #[allow(clippy::result_large_err)]
                let callback =
                    move |req: &tungstenite::handshake::server::Request,
                          resp: tungstenite::handshake::server::Response| {
                        *p.lock().unwrap() = req.uri().path().to_owned();
                        if req.uri().path() == "/ws/forbid" {
                            let mut r = tungstenite::handshake::server::ErrorResponse::new(Some(
                                "forbidden here".into(),
                            ));
                            *r.status_mut() = http::StatusCode::FORBIDDEN;
                            r.headers_mut()
                                .insert(http::header::CONTENT_LENGTH, HeaderValue::from(14));
                            return Err(r);
                        }
                        Ok(resp)
                    };
                let Ok(mut ws) = tokio_tungstenite::accept_hdr_async_with_config(
                    tcp,
                    callback,
                    Some(ws_config()),
                )
                .await
                else {
                    return;
                };
                let path = path.lock().unwrap().clone();
                if path == "/ws/close1001" {
                    let frame = tungstenite::protocol::CloseFrame {
                        code: tungstenite::protocol::frame::coding::CloseCode::Away,
                        reason: "going away".into(),
                    };
                    let _ = ws.close(Some(frame)).await;
                }
                while let Some(Ok(msg)) = ws.next().await {
                    if let tungstenite::Message::Close(Some(f)) = &msg {
                        cl.lock()
                            .unwrap()
                            .push((u16::from(f.code), f.reason.to_string()));
                    } else if (msg.is_text() || msg.is_binary()) && ws.send(msg).await.is_err() {
                        return;
                    }
                }
            }
        });
        WsBackend {
            addr,
            conns,
            closes,
            _task: task,
        }
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.conns.load(Ordering::SeqCst)
    }

    /// Close frames received from clients: (code, reason).
    pub fn closes(&self) -> Vec<(u16, String)> {
        self.closes.lock().unwrap().clone()
    }
}
