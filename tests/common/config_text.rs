//! Config text for tests, built from small sections instead of one
//! hand-written TOML template per test file: `[global]`, HTTP listeners
//! with their routes, and pools. Every listener binds 127.0.0.1:0 without
//! an access log; anything else a test needs goes in the `extra` keys.

use std::fmt::Display;

/// `[global]` with `workers`, then every section of `parts` in order.
pub fn proxy_config(workers: usize, parts: &[String]) -> String {
    format!("[global]\nworkers = {workers}\n{}", parts.concat())
}

/// An HTTP listener `name` with `extra` keys, `[listener.tls]` holding
/// `tls` (none when empty) and one catch-all route "all" to `pool`.
pub fn listener(name: &str, extra: &str, tls: &str, pool: &str) -> String {
    listener_routes(name, extra, tls, &[route("all", "", pool)])
}

/// An HTTP listener `name` with `extra` keys, `[listener.tls]` holding
/// `tls` (none when empty) and `routes` (see [`route`]), in order.
pub fn listener_routes(name: &str, extra: &str, tls: &str, routes: &[String]) -> String {
    let tls = if tls.is_empty() {
        String::new()
    } else {
        format!("  [listener.tls]\n  {tls}\n")
    };
    format!(
        r#"
[[listener]]
name = "{name}"
address = "127.0.0.1:0"
access_log = false
{extra}
{tls}{}"#,
        routes.concat()
    )
}

/// A `[[listener.route]]` to `pool`, named `name` and matching paths under
/// `prefix` (each key left out when empty: an unnamed or catch-all route).
pub fn route(name: &str, prefix: &str, pool: &str) -> String {
    let mut s = String::from("\n  [[listener.route]]\n");
    if !name.is_empty() {
        s.push_str(&format!("  name = \"{name}\"\n"));
    }
    if !prefix.is_empty() {
        s.push_str(&format!("  path_prefix = \"{prefix}\"\n"));
    }
    s.push_str(&format!("  pool = \"{pool}\"\n"));
    s
}

/// A pool `name` over `endpoints` (addresses or `host:port`) with `extra`
/// keys (which may end in sub-tables such as `[pool.tls]`).
pub fn pool<A: Display>(name: &str, endpoints: &[A], extra: &str) -> String {
    let eps: Vec<String> = endpoints
        .iter()
        .map(|a| format!("{{ address = \"{a}\" }}"))
        .collect();
    format!(
        "\n[[pool]]\nname = \"{name}\"\nendpoints = [{}]\n{extra}\n",
        eps.join(", ")
    )
}
