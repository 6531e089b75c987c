//! The network-namespace lab itself (`common::netns`): hosts on one bridge
//! reach each other, a keep-alive connection carries several requests to
//! one backend, labs in parallel may reuse addresses, processes run inside
//! a namespace and die with their guard, and dropping a lab (also during a
//! panic) removes its namespaces. Needs root; skipped otherwise.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use common::netns::*;

const T: Duration = Duration::from_secs(10);

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[test]
fn two_hosts_reach_each_others_backends() {
    if !require_root("two_hosts_reach_each_others_backends") {
        return;
    }
    let lab = Lab::new();
    let a = lab.host("a", &["10.0.0.1/24", "fd00::1/64"]);
    let b = lab.host("b", &["10.0.0.2/24", "fd00::2/64"]);
    let on_a = a.http_backend("alpha", sa("10.0.0.1:8080"));
    let on_b = b.http_backend("beta", sa("0.0.0.0:8080"));
    assert_eq!(
        a.http_get("http://10.0.0.2:8080/x", T),
        Ok((200, "beta".into()))
    );
    assert_eq!(
        b.http_get("http://10.0.0.1:8080/", T),
        Ok((200, "alpha".into()))
    );
    assert_eq!((on_a.count(), on_b.count()), (1, 1));
    // IPv6 addresses (added nodad) are usable at once.
    let on_b6 = b.http_backend("beta6", sa("[fd00::2]:0"));
    let url = format!("http://{}/", on_b6.addr());
    assert_eq!(a.http_get(&url, T), Ok((200, "beta6".into())));
    // Namespaces are separate stacks: B's backend is not on A's loopback.
    assert!(a.http_get("http://127.0.0.1:8080/", T).is_err());
    // The MAC is the one B learnt for A's address.
    let mac: Vec<String> = a.mac().iter().map(|b| format!("{b:02x}")).collect();
    let neigh = String::from_utf8_lossy(&b.ip("neigh show 10.0.0.1").stdout).into_owned();
    assert!(neigh.contains(&mac.join(":")), "{neigh} vs {mac:?}");
    assert_ne!(a.mac(), b.mac());
}

#[test]
fn keepalive_connection_serves_several_requests() {
    if !require_root("keepalive_connection_serves_several_requests") {
        return;
    }
    let lab = Lab::new();
    let client = lab.host("client", &["10.0.0.1/24"]);
    let server = lab.host("server", &["10.0.0.2/24"]);
    let be = server.http_backend("one", sa("10.0.0.2:80"));
    let mut conn = client.keepalive(be.addr(), T);
    let port = conn.local_port();
    assert_ne!(port, 0);
    for i in 0..5 {
        assert_eq!(conn.get(&format!("/r{i}")), Ok("one".into()));
    }
    assert_eq!(conn.local_port(), port);
    assert_eq!(be.count(), 5);
    assert_eq!(be.connections(), 1, "all requests on one connection");
    // A second connection is a second one.
    let mut other = client.keepalive(be.addr(), T);
    assert_ne!(other.local_port(), port);
    assert_eq!(other.get("/"), Ok("one".into()));
    assert_eq!(be.connections(), 2);
    // When the backend goes away, the kept connection fails (no hang).
    drop(be);
    assert!(conn.get("/after").is_err());
}

#[test]
fn parallel_labs_reuse_the_same_addresses() {
    if !require_root("parallel_labs_reuse_the_same_addresses") {
        return;
    }
    let threads: Vec<_> = (0..3)
        .map(|i| {
            std::thread::spawn(move || {
                let lab = Lab::new();
                let a = lab.host("a", &["10.0.0.1/24"]);
                let b = lab.host("b", &["10.0.0.2/24"]);
                let name = format!("lab{i}");
                let _be = b.http_backend(&name, sa("10.0.0.2:8080"));
                for _ in 0..3 {
                    assert_eq!(
                        a.http_get("http://10.0.0.2:8080/", T),
                        Ok((200, name.clone()))
                    );
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn spawned_processes_run_inside_and_die_with_their_guard() {
    if !require_root("spawned_processes_run_inside_and_die_with_their_guard") {
        return;
    }
    let lab = Lab::new();
    let h = lab.host("h", &["192.0.2.7/24"]);
    h.route("198.51.100.0/24 via 192.0.2.1");
    h.sysctl("net.ipv4.ip_forward", "1");
    assert_eq!(h.sysctl_get("net.ipv4.ip_forward"), "1");
    let mut p = h.spawn(Path::new("ip"), &["-o", "addr", "show", "dev", "eth0"]);
    assert!(p.wait_exit(T).success(), "{}", p.output());
    assert!(p.output().contains("192.0.2.7/24"), "{}", p.output());
    let routes = String::from_utf8_lossy(&h.sh("ip route").stdout).into_owned();
    assert!(routes.contains("198.51.100.0/24 via 192.0.2.1"), "{routes}");

    let sleeper = h.spawn(Path::new("sleep"), &["1000"]);
    let pid = sleeper.pid();
    assert!(Path::new(&format!("/proc/{pid}")).exists());
    drop(sleeper);
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "killed and reaped"
    );
}

#[test]
fn dropping_the_lab_removes_its_namespaces() {
    if !require_root("dropping_the_lab_removes_its_namespaces") {
        return;
    }
    let lab = Lab::new();
    let a = lab.host("a", &["10.0.0.1/24"]);
    lab.host("b", &["10.0.0.2/24"]);
    let names = lab.namespaces();
    assert_eq!(names.len(), 3);
    assert!(names.contains(&a.name().to_owned()));
    assert!(names.contains(&lab.bridge_namespace().to_owned()));
    let listed = netns_list();
    assert!(names.iter().all(|n| listed.contains(n)), "{listed:?}");
    drop(lab);
    let listed = netns_list();
    assert!(names.iter().all(|n| !listed.contains(n)), "{listed:?}");

    // Also when the test panics while the lab is alive.
    let made = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = made.clone();
    let panicked = std::panic::catch_unwind(move || {
        let lab = Lab::new();
        let h = lab.host("x", &["10.0.0.1/24"]);
        let _be = h.http_backend("doomed", sa("10.0.0.1:80"));
        *seen.lock().unwrap() = lab.namespaces();
        panic!("test failure with a lab alive");
    });
    assert!(panicked.is_err());
    let names = made.lock().unwrap().clone();
    assert_eq!(names.len(), 2);
    let listed = netns_list();
    assert!(names.iter().all(|n| !listed.contains(n)), "{listed:?}");
}
