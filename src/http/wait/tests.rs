//! The response wait's timeouts on tokio's paused clock: which one runs
//! when, and whom a pause in the body blames.

use std::future::{Future, pending};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::time::{Instant, advance};

use super::{Stall, watched};
use crate::http::req_body::BodyWatch;

const RESPONSE: Duration = Duration::from_secs(30);
const BODY: Duration = Duration::from_secs(60);

/// Starts the wait for `send` in a task, returning its outcome and when it
/// came.
fn spawn_wait<F>(
    send: F,
    watch: Arc<BodyWatch>,
) -> tokio::task::JoinHandle<(Result<F::Output, Stall>, Instant)>
where
    F: Future + Send + 'static,
    F::Output: Send,
{
    tokio::spawn(async move {
        let r = watched(send, &watch, RESPONSE, BODY).await;
        (r, Instant::now())
    })
}

#[tokio::test(start_paused = true)]
async fn a_body_that_ends_at_once_starts_the_response_timeout() {
    let watch = Arc::new(BodyWatch::default());
    watch.note_frame();
    watch.finish();
    let start = Instant::now();
    let (r, at) = spawn_wait(pending::<()>(), watch).await.unwrap();
    assert_eq!(r, Err(Stall::Response));
    assert_eq!(at - start, RESPONSE);
}

#[tokio::test(start_paused = true)]
async fn a_response_that_comes_in_time_is_returned() {
    let (tx, rx) = oneshot::channel::<u32>();
    let watch = Arc::new(BodyWatch::default());
    let wait = spawn_wait(async move { rx.await.unwrap() }, watch.clone());
    watch.note_frame();
    watch.finish();
    advance(RESPONSE - Duration::from_secs(1)).await;
    tx.send(7).unwrap();
    assert_eq!(wait.await.unwrap().0, Ok(7));
}

#[tokio::test(start_paused = true)]
async fn a_slow_upload_is_not_cut_by_the_response_timeout() {
    let watch = Arc::new(BodyWatch::default());
    let start = Instant::now();
    let wait = spawn_wait(pending::<()>(), watch.clone());
    // Five minutes of upload, a frame every 40 s (under the body timeout,
    // far over the response timeout in total).
    for _ in 0..8 {
        watch.note_pending();
        advance(Duration::from_secs(40)).await;
        watch.note_frame();
    }
    assert!(!wait.is_finished(), "the upload was cut short");
    let ended = Instant::now();
    watch.finish();
    let (r, at) = wait.await.unwrap();
    assert_eq!(r, Err(Stall::Response));
    assert_eq!(at - ended, RESPONSE, "counted from the end of the body");
    assert!(at - start > Duration::from_secs(320));
}

#[tokio::test(start_paused = true)]
async fn a_client_that_stops_sending_the_body_is_blamed() {
    let watch = Arc::new(BodyWatch::default());
    let wait = spawn_wait(pending::<()>(), watch.clone());
    watch.note_frame();
    let last = Instant::now();
    watch.note_pending();
    let (r, at) = wait.await.unwrap();
    assert_eq!(r, Err(Stall::ClientBody));
    let paused = at - last;
    assert!(
        paused >= BODY && paused <= BODY + BODY / 4,
        "noticed after {paused:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn an_upstream_that_stops_taking_the_body_is_blamed() {
    let watch = Arc::new(BodyWatch::default());
    let wait = spawn_wait(pending::<()>(), watch.clone());
    // The client's frame was taken, and nobody asked for the next one.
    watch.note_frame();
    let (r, _) = wait.await.unwrap();
    assert_eq!(r, Err(Stall::UpstreamBody));
}
