//! `[engine]` and `[[vip]]`: a valid file, and each error at its line:col.

use std::net::IpAddr;

use super::{check, errors, load, the_error};
use crate::config::{DataPath, ForwardMode, VipProtocol};

const VALID: &str = r#"
[engine]
data_path = "af_packet"
workers = 2
control_socket = "/tmp/sy.sock"
tunnel_source = "198.18.1.0/28"
tcp_timeout = "10m"

[[vip]]
name = "web"
address = "198.51.100.1"
port = 80
protocol = "tcp"
mode = "nat"
interfaces = ["eth0"]
health_check = { port = 8080, interval = "1s" }
backends = [ { address = "198.18.0.11", port = 8080 }, { address = "198.18.0.12", weight = 3 } ]

[[vip]]
name = "dns"
address = "198.51.100.2"
protocol = "udp"
mode = "gre"
interfaces = ["eth0", "eth1"]
backends = [ { address = "198.18.0.13" } ]
"#;

/// VALID with `extra` appended to the first vip (after line 16).
fn vip_with(extra: &str) -> String {
    VALID.replacen(
        "interfaces = [\"eth0\"]\n",
        &format!("interfaces = [\"eth0\"]\n{extra}\n"),
        1,
    )
}

#[test]
fn a_full_packet_engine_config_loads() {
    let c = load(VALID).unwrap().config;
    let e = c.engine.unwrap();
    assert_eq!((e.data_path, e.workers), (DataPath::AfPacket, 2));
    assert_eq!(e.tunnel_source, Some(("198.18.1.0".parse().unwrap(), 28)));
    assert_eq!(
        e.timeouts.tcp_established,
        std::time::Duration::from_secs(600)
    );
    assert_eq!(c.vips.len(), 2);
    let web = &c.vips[0];
    assert_eq!(
        (web.port, web.protocol, web.mode),
        (80, VipProtocol::Tcp, ForwardMode::Nat)
    );
    assert_eq!(web.backends[0].port, 8080);
    assert_eq!(web.backends[1].weight, 3);
    assert_eq!(web.health.as_ref().unwrap().port, 8080);
    let dns = &c.vips[1];
    assert_eq!((dns.port, dns.mode), (0, ForwardMode::Gre));
    assert_eq!(
        dns.backends[0].address,
        "198.18.0.13".parse::<IpAddr>().unwrap()
    );
}

#[test]
fn no_vip_means_no_engine() {
    let c = load("[[listener]]\nname = \"a\"\naddress = \"127.0.0.1:0\"\npool = \"p\"\nprotocol = \"tcp\"\n[[pool]]\nname = \"p\"\nendpoints = [{ address = \"127.0.0.1:1\" }]\n").unwrap();
    assert!(c.config.engine.is_none() && c.config.vips.is_empty());
}

#[test]
fn dsr_cannot_rewrite_ports() {
    let text = VALID.replace("mode = \"nat\"", "mode = \"dsr\"");
    let d = the_error(&text);
    assert_eq!((d.line, d.col), (17, 48), "{}", d.render());
    assert_eq!(
        d.message,
        "backend #1 of vip \"web\": mode \"dsr\" cannot rewrite ports"
    );
    assert!(
        d.help
            .as_deref()
            .unwrap()
            .starts_with("in DSR the packet reaches the backend unchanged")
    );
}

#[test]
fn tunnels_need_a_tunnel_source() {
    let text = VALID.replace("tunnel_source = \"198.18.1.0/28\"\n", "");
    let d = the_error(&text);
    check(
        &d,
        22,
        8,
        "vip \"dns\" uses mode \"gre\" but [engine] has no `tunnel_source`",
        "add tunnel_source = \"ENGINE-IPv4\" (or a range it owns, e.g. \"198.18.1.0/28\") under \
         [engine]: it is the outer source address of the tunnel packets",
    );
}

#[test]
fn unknown_keys_and_values_get_suggestions() {
    let e = errors(&vip_with("mdoe = \"nat\"").replace("mode = \"nat\"\n", "mode = \"nta\"\n"));
    assert_eq!(e.len(), 2, "{}", crate::config::render_all(&e));
    assert_eq!(e[0].message, "invalid `mode` \"nta\" in vip \"web\"");
    assert_eq!(
        e[0].help.as_deref(),
        Some("did you mean \"nat\"? (mode is one of \"nat\", \"dsr\", \"ipip\", \"gre\")")
    );
    assert_eq!(e[1].message, "unknown key `mdoe` in vip \"web\"");
    assert_eq!(e[1].help.as_deref(), Some("did you mean `mode`?"));
}

#[test]
fn overlapping_vips_are_refused() {
    let text = VALID
        .replace("198.51.100.2", "198.51.100.1")
        .replace("protocol = \"udp\"", "protocol = \"tcp\"");
    let d = the_error(&text);
    assert_eq!((d.line, d.col), (21, 11), "{}", d.render());
    assert_eq!(
        d.message,
        "vip \"dns\" overlaps vip \"web\" (line 11): both take tcp traffic to 198.51.100.1 (one of them on every port)"
    );
}

#[test]
fn a_nat_backend_port_serves_one_vip() {
    let text = format!(
        "{VALID}\n[[vip]]\nname = \"web2\"\naddress = \"198.51.100.3\"\nport = 8080\nprotocol = \"tcp\"\nmode = \"nat\"\ninterfaces = [\"eth0\"]\nbackends = [ {{ address = \"198.18.0.11\" }} ]\n"
    );
    let d = the_error(&text);
    assert_eq!(
        d.message,
        "backend 198.18.0.11 port 8080 serves both nat vips \"web\" and \"web2\""
    );
}

#[test]
fn addresses_families_and_missing_keys() {
    let e = errors(
        "[[vip]]\nname = \"v\"\naddress = \"198.51.100.1:80\"\nmode = \"nat\"\nbackends = [ { address = \"2001:db8::1\" }, { address = \"x\" } ]\n[[vip]]\nname = \"w\"\naddress = \"198.51.100.9\"\nprotocol = \"tcp\"\nmode = \"ipip\"\ninterfaces = []\ntunnel_source = \"1.2.3.4\"\n",
    );
    let messages: Vec<&str> = e.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(
        messages,
        [
            "vip \"v\" has no `protocol`",
            "vip \"v\" has no `interfaces`",
            "invalid `address` \"198.51.100.1:80\" in vip \"v\"",
            "invalid `address` \"x\" in backend #2 of vip \"v\"",
            "vip \"w\" has no `backends`",
            "vip \"w\" uses mode \"ipip\" but [engine] has no `tunnel_source`",
            "`interfaces` of vip \"w\" is empty",
            "unknown key `tunnel_source` in vip \"w\"",
        ],
        "{}",
        crate::config::render_all(&e)
    );
}

#[test]
fn full_nat_is_for_nat_vips_of_one_family() {
    let c = load(&vip_with("source_nat = \"198.18.0.100\""))
        .unwrap()
        .config;
    assert_eq!(c.vips[0].source_nat, Some("198.18.0.100".parse().unwrap()));
    let d = the_error(
        &vip_with("source_nat = \"198.18.0.100\"")
            .replace("mode = \"nat\"", "mode = \"dsr\"")
            .replace(", port = 8080", ""),
    );
    assert_eq!(d.message, "vip \"web\": `source_nat` needs mode = \"nat\"");
    let d = the_error(&vip_with("source_nat = \"2001:db8::1\""));
    assert_eq!(
        d.message,
        "vip \"web\": `source_nat` 2001:db8::1 is not of the vip's IP family"
    );
}

#[test]
fn a_global_control_socket_serves_the_engine_unless_it_names_its_own() {
    let with_global = |engine_socket: &str| {
        let text = VALID.replace("control_socket = \"/tmp/sy.sock\"\n", engine_socket);
        load(&format!(
            "[global]\ncontrol_socket = \"/tmp/admin.sock\"\n{text}"
        ))
        .unwrap()
        .config
    };
    let c = with_global("");
    assert_eq!(c.global.control_socket, Some("/tmp/admin.sock".into()));
    assert_eq!(
        c.engine.unwrap().control_socket,
        None,
        "one socket for both"
    );
    let c = with_global("control_socket = \"/tmp/own.sock\"\n");
    assert_eq!(
        c.engine.unwrap().control_socket,
        Some("/tmp/own.sock".into())
    );
    let c = load(&VALID.replace("control_socket = \"/tmp/sy.sock\"\n", ""))
        .unwrap()
        .config;
    assert_eq!(
        c.engine.unwrap().control_socket,
        Some(crate::config::DEFAULT_CONTROL_SOCKET.into()),
        "no [global] socket: the engine's default"
    );
}
