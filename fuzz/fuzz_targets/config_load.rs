//! Loads arbitrary UTF-8 as a config file: it must never panic, and the
//! result must be consistent (errors iff it failed, every diagnostic but
//! the whole-file note has a position, and all render).
//!
//! Host names resolve through a fake resolver: no DNS traffic, and the same
//! input always takes the same path.

#![no_main]

use std::io;
use std::net::SocketAddr;

use libfuzzer_sys::fuzz_target;
use switchyard::config::{self, Severity};

fn resolve(host_port: &str) -> io::Result<Vec<SocketAddr>> {
    let port = host_port
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .unwrap_or(1);
    if host_port.starts_with("fail") {
        return Err(io::Error::new(io::ErrorKind::NotFound, "no such host"));
    }
    Ok(vec![SocketAddr::from(([127, 0, 0, 1], port))])
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match config::load_str_with_resolver("fuzz.toml", text, &resolve) {
        Ok(loaded) => {
            assert!(
                loaded
                    .warnings
                    .iter()
                    .all(|d| d.severity == Severity::Warning)
            );
            for w in &loaded.warnings {
                assert!(w.line >= 1 && w.col >= 1);
                let _ = w.render();
            }
        }
        Err(e) => {
            assert!(e.errors().next().is_some(), "failed without an error");
            for d in &e.diagnostics {
                // A note (checks skipped) is about the whole file.
                let placed = d.line >= 1 && d.col >= 1;
                assert!(placed || d.severity == Severity::Note, "no position: {d:?}");
            }
            let _ = e.to_string();
        }
    }
});
