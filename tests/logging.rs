//! The log output never blocks the proxy: the real binary runs with its
//! stdout a pipe that nobody reads for a while (a stalled journald or
//! terminal), access logging on, and keeps serving; once the pipe is read
//! again every access line is there.

mod common;

use std::time::Duration;

use common::*;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// More access lines than a pipe holds (64 KiB at about 250 bytes a line),
/// fewer than the log queue holds, so none is dropped.
const REQUESTS: usize = 3000;

#[tokio::test(flavor = "multi_thread")]
async fn a_stalled_stdout_does_not_stop_the_proxy_and_loses_no_access_line() {
    let b = backend("b");
    let tmp = TempDir::new();
    let cfg = tmp.write(
        "sy.toml",
        proxy_config(
            1,
            &[
                listener("web", "", "", "p").replace("access_log = false", "access_log = true"),
                pool("p", &[b.addr], ""),
            ],
        ),
    );
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["run", "-c", cfg.to_str().unwrap()])
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("switchyard starts");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    // Read only up to the listening line; then nobody reads the pipe.
    let addr = within(Duration::from_secs(20), async {
        let mut line = String::new();
        loop {
            line.clear();
            assert!(
                out.read_line(&mut line).await.unwrap() > 0,
                "no listening line"
            );
            if let Some(rest) = line.split("listening listener=web address=").nth(1) {
                let a = rest.split_whitespace().next().unwrap();
                return a.parse::<std::net::SocketAddr>().unwrap();
            }
        }
    })
    .await;

    // Sequential keep-alive requests, each with its own path: with a
    // blocking log write the worker would stop once the pipe is full.
    let mut s = TcpStream::connect(addr).await.unwrap();
    within(Duration::from_secs(60), async {
        for i in 0..REQUESTS {
            let req = format!("GET /req-{i} HTTP/1.1\r\nHost: a\r\n\r\n");
            s.write_all(req.as_bytes()).await.unwrap();
            let resp = read_response(&mut s)
                .await
                .unwrap_or_else(|| panic!("request {i}: connection closed"));
            assert_eq!(resp.status, 200, "request {i}");
        }
    })
    .await;
    // Now read: every request's access line arrives.
    let mut seen = vec![false; REQUESTS];
    let mut left = REQUESTS;
    within(Duration::from_secs(30), async {
        let mut line = String::new();
        while left > 0 {
            line.clear();
            assert!(out.read_line(&mut line).await.unwrap() > 0, "output ended");
            assert!(!line.contains("log lines dropped"), "{line}");
            if let Some(rest) = line.split("path=/req-").nth(1) {
                let i: usize = rest
                    .split(|c: char| !c.is_ascii_digit())
                    .next()
                    .and_then(|n| n.parse().ok())
                    .unwrap();
                if !seen[i] {
                    seen[i] = true;
                    left -= 1;
                }
            }
        }
    })
    .await;
    let _ = child.start_kill();
}
