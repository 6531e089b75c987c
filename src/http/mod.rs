//! L7: the HTTP/1.1 and HTTP/2 server side, routing, and forwarding to
//! upstreams.

pub mod body;
pub mod conn;
pub mod framing;
pub mod grpc;
pub mod h1;
pub mod h2;
pub mod headers;
mod hyper_h1;
pub mod interim;
mod linger;
pub mod parked;
mod plain_on_tls;
pub mod proxy;
pub mod req_body;
pub mod router;
mod serve_h2;
pub mod tls_info;
pub mod tunnel;
pub mod upgrade;
mod upstream_conn;
pub mod wait;

/// Runs hyper's HTTP/2 stream tasks on the worker's own event loop
/// (`spawn_local`): request handling holds worker-local state (`Rc`), and a
/// stream never leaves the thread its connection lives on.
#[derive(Debug, Clone, Copy)]
pub struct LocalExec;

impl<F> hyper::rt::Executor<F> for LocalExec
where
    F: std::future::Future + 'static,
{
    fn execute(&self, fut: F) {
        tokio::task::spawn_local(fut);
    }
}
