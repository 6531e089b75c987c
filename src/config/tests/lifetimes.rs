//! How long connections live: `h2_keepalive_interval` /
//! `h2_keepalive_timeout` on listeners and pools, and the listener's
//! `max_connection_duration`: what loads, what is refused, and what only
//! warns.

use std::time::Duration;

use super::{MINIMAL, check, errors, listener_with, load, pool_with, the_error};
use crate::config::H2Keepalive;

#[test]
fn keepalive_is_off_by_default_and_the_timeout_defaults_to_20s() {
    let c = load(MINIMAL).unwrap().config;
    assert_eq!(c.listeners[0].h2.keepalive, None);
    assert_eq!(c.pools[0].h2_keepalive, None);

    let c = load(&listener_with(
        "http2 = true\nh2_keepalive_interval = \"30s\"",
    ))
    .unwrap()
    .config;
    assert_eq!(
        c.listeners[0].h2.keepalive,
        Some(H2Keepalive {
            interval: Duration::from_secs(30),
            timeout: Duration::from_secs(20),
        })
    );

    let loaded = load(&pool_with(
        "http_version = \"2\"\nh2_keepalive_interval = \"10s\"\nh2_keepalive_timeout = \"2s\"",
    ))
    .unwrap();
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    assert_eq!(
        loaded.config.pools[0].h2_keepalive,
        Some(H2Keepalive {
            interval: Duration::from_secs(10),
            timeout: Duration::from_secs(2),
        })
    );
}

#[test]
fn zero_or_invalid_keepalive_durations_are_refused() {
    check(
        &the_error(&listener_with(
            "http2 = true\nh2_keepalive_interval = \"0s\"",
        )),
        6,
        25,
        "`h2_keepalive_interval` in listener \"web\" must be greater than 0",
        "set a positive duration, e.g. h2_keepalive_interval = \"30s\", or remove it (off)",
    );
    check(
        &the_error(&pool_with(
            "http_version = \"2\"\nh2_keepalive_interval = \"5s\"\nh2_keepalive_timeout = \"0s\"",
        )),
        13,
        24,
        "`h2_keepalive_timeout` in pool \"api\" must be greater than 0",
        "set a positive duration, e.g. h2_keepalive_timeout = \"20s\" (the default)",
    );
    let e = the_error(&pool_with(
        "http_version = \"2\"\nh2_keepalive_interval = \"soon\"",
    ));
    assert_eq!((e.line, e.col), (12, 25), "{}", e.render());
    assert!(
        e.message
            .starts_with("invalid duration for `h2_keepalive_interval` in pool \"api\""),
        "{}",
        e.render()
    );
}

#[test]
fn keepalive_keys_are_refused_on_l4_listeners() {
    let text = "[[listener]]\nname = \"pg\"\naddress = \"127.0.0.1:0\"\nprotocol = \"tcp\"\npool = \"db\"\nh2_keepalive_interval = \"30s\"\n\
[[pool]]\nname = \"db\"\nendpoints = [{ address = \"127.0.0.1:5432\" }]\n";
    let e = errors(text);
    assert_eq!(e.len(), 1, "{e:#?}");
    check(
        &e[0],
        6,
        25,
        "`h2_keepalive_interval` is not a setting of tcp listeners (listener \"pg\")",
        "`h2_keepalive_interval` applies to http listeners only; remove it",
    );
}

#[test]
fn keepalive_that_cannot_apply_warns() {
    // A timeout without an interval.
    let loaded = load(&pool_with("h2_keepalive_timeout = \"5s\"")).unwrap();
    assert_eq!(loaded.warnings.len(), 1, "{:?}", loaded.warnings);
    check(
        &loaded.warnings[0],
        11,
        24,
        "`h2_keepalive_timeout` in pool \"api\" does nothing without `h2_keepalive_interval`",
        "set h2_keepalive_interval = \"30s\" to send keepalive PINGs, or remove h2_keepalive_timeout",
    );
    // An HTTP/1.1 pool.
    let loaded = load(&pool_with("h2_keepalive_interval = \"5s\"")).unwrap();
    assert_eq!(loaded.warnings.len(), 1, "{:?}", loaded.warnings);
    check(
        &loaded.warnings[0],
        11,
        25,
        "`h2_keepalive_interval` in pool \"api\" does nothing: the pool speaks HTTP/1.1",
        "set http_version = \"2\" (or \"auto\" with [pool.tls]), or remove h2_keepalive_interval",
    );
    // A plain listener without http2.
    let loaded = load(&listener_with("h2_keepalive_interval = \"5s\"")).unwrap();
    assert_eq!(loaded.warnings.len(), 1, "{:?}", loaded.warnings);
    check(
        &loaded.warnings[0],
        5,
        25,
        "`h2_keepalive_interval` in listener \"web\" does nothing: the listener does not accept HTTP/2",
        "set http2 = true, or remove h2_keepalive_interval",
    );
}

#[test]
fn max_connection_duration_is_off_by_default_positive_and_http_only() {
    let c = load(MINIMAL).unwrap().config;
    assert_eq!(c.listeners[0].timeouts.max_connection, None);
    let c = load(&listener_with("max_connection_duration = \"1h\""))
        .unwrap()
        .config;
    assert_eq!(
        c.listeners[0].timeouts.max_connection,
        Some(Duration::from_secs(3600))
    );
    check(
        &the_error(&listener_with("max_connection_duration = \"0s\"")),
        5,
        27,
        "`max_connection_duration` in listener \"web\" must be greater than 0",
        "set a positive duration, e.g. max_connection_duration = \"1h\", or remove it (off)",
    );
    let text = "[[listener]]\nname = \"pg\"\naddress = \"127.0.0.1:0\"\nprotocol = \"tcp\"\npool = \"db\"\nmax_connection_duration = \"1h\"\n\
[[pool]]\nname = \"db\"\nendpoints = [{ address = \"127.0.0.1:5432\" }]\n";
    let e = errors(text);
    assert_eq!(e.len(), 1, "{e:#?}");
    check(
        &e[0],
        6,
        27,
        "`max_connection_duration` is not a setting of tcp listeners (listener \"pg\")",
        "`max_connection_duration` applies to http listeners only; remove it",
    );
}
