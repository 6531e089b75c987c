//! `switchyard demo`: the embedded default configuration with built-in
//! backends, so a fresh checkout serves real traffic with nothing else
//! installed.

pub mod backend;

use std::net::SocketAddr;

use crate::config::{self, ConfigError, Loaded};

pub use backend::{Backend, BackendHandle};

/// The embedded demo configuration, with `{a}`, `{b}`, `{c}` standing for
/// the built-in backends' addresses.
pub const DEMO_CONFIG: &str = include_str!("demo.toml");

/// The names of the built-in backends, in placeholder order.
pub const BACKENDS: [&str; 3] = ["demo-a", "demo-b", "demo-c"];

/// The demo configuration for backends at `addrs`, listening on `listen`
/// (the default 127.0.0.1:8080 when `None`).
pub fn config_text(addrs: [SocketAddr; 3], listen: Option<SocketAddr>) -> String {
    let mut text = DEMO_CONFIG
        .replace("{a}", &addrs[0].to_string())
        .replace("{b}", &addrs[1].to_string())
        .replace("{c}", &addrs[2].to_string());
    if let Some(l) = listen {
        text = text.replace(
            "address = \"127.0.0.1:8080\"",
            &format!("address = \"{l}\""),
        );
    }
    text
}

/// Loads the demo configuration (it is always valid; an error here is a bug).
pub fn load(addrs: [SocketAddr; 3], listen: Option<SocketAddr>) -> Result<Loaded, ConfigError> {
    config::load_str("<demo>", &config_text(addrs, listen))
}

/// The lines `switchyard demo` prints to get a newcomer started.
pub fn try_lines(addr: SocketAddr) -> String {
    let u = format!("http://{addr}");
    format!(
        "Switchyard demo: listening on {u} (Ctrl-C to stop)\n\
         Try:\n\
         \x20 curl -s {u}/                                   # 90/10 split: demo-a/demo-b (stable) vs demo-c (canary)\n\
         \x20 for i in $(seq 50); do curl -s {u}/; done | sort | uniq -c\n\
         \x20 curl -s {u}/api/users                          # path routing: round robin over demo-a, demo-b\n\
         \x20 curl -s -H 'X-Version: beta' {u}/              # header routing: always demo-c\n\
         \x20 curl -s -H 'X-User: alice' {u}/user/profile    # Maglev: one user, one backend\n\
         \x20 curl -s {u}/echo                               # the headers the proxy adds (X-Forwarded-*, X-Request-Id)\n\
         \x20 curl -s '{u}/slow?ms=300'                      # a slow backend\n\
         \x20 curl -si {u}/status/503                        # backend status codes pass through\n"
    )
}
