//! Validation of the packet engine's sections, `[engine]` and `[[vip]]`
//! (issue 5): every error at once, each at its `line:col`, saying what is
//! wrong and how to fix it, including what a forwarding mode cannot do
//! (DSR and the tunnel modes cannot rewrite ports; tunnels have an IPv4
//! outer header; NAT replies are matched by backend address and port).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::ops::Range;
use std::path::PathBuf;

use toml::Spanned;

use super::model_vip::{
    DEFAULT_FLOW_TABLE_SIZE, DataPath, EngineCfg, ForwardMode, VipBackendCfg, VipCfg, VipHealthCfg,
    VipProtocol, XdpMode,
};
use super::suggest::did_you_mean;
use super::validate::V;
use super::vip_file::{FileEngine, FileVip, FileVipBackend, FileVipHealth};
use crate::balance::DEFAULT_TABLE_SIZE;
use crate::packet::conntrack::Timeouts;

/// Validates `[engine]` (defaults when absent).
pub(super) fn engine(
    v: &mut V<'_, '_>,
    f: Option<&Spanned<FileEngine>>,
    global_socket: Option<&PathBuf>,
) -> EngineCfg {
    let empty = FileEngine::default();
    let f = f.map_or(&empty, Spanned::get_ref);
    let ctx = "[engine]";
    let mut cfg = EngineCfg::default();
    let data_path = match choice(
        v,
        &f.data_path,
        "data_path",
        ctx,
        &["af_packet", "af_xdp", "auto"],
    ) {
        Some("af_xdp") => DataPath::AfXdp,
        Some("auto") => DataPath::Auto,
        _ => DataPath::AfPacket,
    };
    cfg.data_path = data_path;
    cfg.xdp_mode = match choice(
        v,
        &f.xdp_mode,
        "xdp_mode",
        ctx,
        &["auto", "native", "generic"],
    ) {
        Some("native") => XdpMode::Native,
        Some("generic") => XdpMode::Generic,
        _ => XdpMode::Auto,
    };
    cfg.shield = f.shield.as_ref().is_none_or(|b| *b.get_ref());
    let workers = v.int(
        &f.workers,
        "workers",
        ctx,
        0..=1024,
        0,
        "use 0 for one packet worker per CPU, or a number from 1 to 1024",
    );
    cfg.workers = match usize::try_from(workers) {
        Ok(0) | Err(_) => std::thread::available_parallelism().map_or(1, |n| n.get()),
        Ok(n) => n,
    };
    if let Some(path) = &f.control_socket {
        if path.get_ref().trim().is_empty() {
            v.error(
                path.span(),
                "`control_socket` in [engine] is empty",
                "give the path of a Unix socket, e.g. control_socket = \"/run/switchyard/engine.sock\"",
            );
        } else {
            v.socket_path(path, "[engine]");
            cfg.control_socket = Some(PathBuf::from(path.get_ref()));
        }
    } else if global_socket.is_some() {
        // One admin socket: [global] control_socket answers for the engine.
        cfg.control_socket = None;
    }
    let size = v.int(
        &f.flow_table_size,
        "flow_table_size",
        ctx,
        1024..=(1 << 28),
        DEFAULT_FLOW_TABLE_SIZE as i64,
        "flows per worker, from 1024 to 268435456 (64 bytes each); size it at about 1.4x the \
         concurrent flows a worker sees",
    );
    cfg.flow_table_size = usize::try_from(size).unwrap_or(DEFAULT_FLOW_TABLE_SIZE);
    let d = Timeouts::default();
    let secs = |d: std::time::Duration| format!("{}s", d.as_secs());
    cfg.timeouts = Timeouts {
        tcp_syn: v.duration(
            &f.tcp_syn_timeout,
            "tcp_syn_timeout",
            ctx,
            &secs(d.tcp_syn),
            false,
        ),
        tcp_established: v.duration(
            &f.tcp_timeout,
            "tcp_timeout",
            ctx,
            &secs(d.tcp_established),
            false,
        ),
        tcp_closing: v.duration(
            &f.tcp_fin_timeout,
            "tcp_fin_timeout",
            ctx,
            &secs(d.tcp_closing),
            false,
        ),
        udp: v.duration(&f.udp_timeout, "udp_timeout", ctx, &secs(d.udp), false),
    };
    if let Some(src) = &f.tunnel_source {
        match parse_v4_range(src.get_ref()) {
            Ok(r) => cfg.tunnel_source = Some(r),
            Err(why) => v.error(
                src.span(),
                format!("invalid `tunnel_source` in [engine]: {why}"),
                "give an IPv4 address of the engine, or a range it owns so backends' RSS spreads \
                 tunnels, e.g. tunnel_source = \"198.18.0.1\" or \"198.18.1.0/28\"",
            ),
        }
    }
    let mtu = v.int(
        &f.mtu,
        "mtu",
        ctx,
        576..=9216,
        1500,
        "the MTU of the links towards the backends, from 576 to 9216",
    );
    cfg.mtu = usize::try_from(mtu).unwrap_or(1500);
    cfg
}

/// `a.b.c.d` or `a.b.c.d/len` (IPv4 only: tunnels have an IPv4 outer header).
fn parse_v4_range(s: &str) -> Result<(Ipv4Addr, u8), String> {
    let (addr, prefix) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    let addr: IpAddr = addr
        .trim()
        .parse()
        .map_err(|_| format!("{addr:?} is not an IP address"))?;
    let IpAddr::V4(addr) = addr else {
        return Err("tunnel packets have an IPv4 outer header, so the source must be IPv4".into());
    };
    let prefix = match prefix {
        None => 32,
        Some(p) => p
            .parse::<u8>()
            .ok()
            .filter(|p| (16..=32).contains(p))
            .ok_or_else(|| format!("prefix length {p:?} must be a number from 16 to 32"))?,
    };
    Ok((addr, prefix))
}

/// One of `allowed`, or an error with "did you mean".
fn choice<'a>(
    v: &mut V<'_, '_>,
    value: &'a Option<Spanned<String>>,
    key: &str,
    ctx: &str,
    allowed: &[&'a str],
) -> Option<&'a str> {
    let value = value.as_ref()?;
    let s = value.get_ref().as_str();
    if let Some(hit) = allowed.iter().find(|a| **a == s) {
        return Some(hit);
    }
    let list = allowed
        .iter()
        .map(|a| format!("\"{a}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let help = match did_you_mean(s, allowed) {
        Some(m) => format!("did you mean \"{m}\"? ({key} is one of {list})"),
        None => format!("{key} is one of {list}"),
    };
    v.error(
        value.span(),
        format!("invalid `{key}` {s:?} in {ctx}"),
        help,
    );
    None
}

fn vip_desc(name: Option<&str>, i: usize) -> String {
    match name {
        Some(n) => format!("vip {n:?}"),
        None => format!("vip #{}", i + 1),
    }
}

/// What identifies a VIP's traffic: address, protocol, port (0 = all).
type VipKey = (IpAddr, VipProtocol, u16);

/// Validates every `[[vip]]`.
pub(super) fn vips(
    v: &mut V<'_, '_>,
    list: &[Spanned<FileVip>],
    engine: &EngineCfg,
) -> Vec<VipCfg> {
    let mut out = Vec::new();
    let mut names: HashMap<String, Range<usize>> = HashMap::new();
    let mut keys: Vec<(VipKey, Range<usize>, String)> = Vec::new();
    // NAT replies are recognised by (backend address, backend port, protocol).
    let mut nat_sources: HashMap<(IpAddr, u16, VipProtocol), String> = HashMap::new();
    for (i, item) in list.iter().enumerate() {
        let Some(cfg) = vip(v, i, item, engine) else {
            continue;
        };
        let f = item.get_ref();
        let ctx = vip_desc(Some(&cfg.name), i);
        if let Some(first) = names.get(&cfg.name) {
            let line = v.line_of(first);
            let span = f.name.as_ref().map_or(item.span(), Spanned::span);
            v.error(
                span,
                format!("duplicate vip name {:?} (first on line {line})", cfg.name),
                "give each [[vip]] a unique name: `switchyard vip` commands refer to it",
            );
        } else {
            names.insert(
                cfg.name.clone(),
                f.name.as_ref().map_or(item.span(), Spanned::span),
            );
        }
        let key = (cfg.address, cfg.protocol, cfg.port);
        let addr_span = f.address.as_ref().map_or(item.span(), Spanned::span);
        if let Some((_, span, other)) = keys.iter().find(|((a, p, port), _, _)| {
            *a == key.0 && *p == key.1 && (*port == key.2 || *port == 0 || key.2 == 0)
        }) {
            let line = v.line_of(span);
            v.error(
                addr_span.clone(),
                format!(
                    "{ctx} overlaps vip {other:?} (line {line}): both take {} traffic to {}{}",
                    cfg.protocol.as_str(),
                    cfg.address,
                    if cfg.port == 0 || key.2 == 0 {
                        " (one of them on every port)".to_string()
                    } else {
                        format!(" port {}", cfg.port)
                    },
                ),
                "each packet must belong to exactly one vip: change the address, port or protocol, \
                 or merge the two",
            );
        } else {
            keys.push((key, addr_span, cfg.name.clone()));
        }
        if cfg.mode == ForwardMode::Nat {
            for b in &cfg.backends {
                let port = if b.port == 0 { cfg.port } else { b.port };
                let k = (b.address, port, cfg.protocol);
                if let Some(other) = nat_sources.get(&k).filter(|o| **o != cfg.name) {
                    v.error(
                        f.backends.as_ref().map_or(item.span(), Spanned::span),
                        format!(
                            "backend {} port {port} serves both nat vips {other:?} and {:?}",
                            b.address, cfg.name
                        ),
                        "the engine restores a NAT reply's source (the VIP) from the backend's \
                         address and port, so one backend address and port may serve one nat vip \
                         only: give the backend another port for the second vip",
                    );
                } else {
                    nat_sources.insert(k, cfg.name.clone());
                }
            }
        }
        out.push(cfg);
    }
    out
}

fn vip(v: &mut V<'_, '_>, i: usize, item: &Spanned<FileVip>, engine: &EngineCfg) -> Option<VipCfg> {
    let header = item.span();
    let f = item.get_ref();
    let name = f.name.as_ref().map(|n| n.get_ref().clone());
    let ctx = vip_desc(name.as_deref(), i);
    let errors_before = v.rep.error_count();
    if name.is_none() && v.report_missing(&header, &["name"]) {
        v.error(
            header.clone(),
            format!("{ctx} has no `name`"),
            "add a unique name, e.g. name = \"web\"",
        );
    }
    if let Some(n) = &f.name
        && n.get_ref().trim().is_empty()
    {
        v.error(
            n.span(),
            "vip name is empty",
            "give the vip a name, e.g. name = \"web\"",
        );
    }
    let address = match &f.address {
        None => {
            if v.report_missing(&header, &["address"]) {
                v.error(
                    header.clone(),
                    format!("{ctx} has no `address`"),
                    "add the virtual IP, without a port, e.g. address = \"198.51.100.1\"",
                );
            }
            None
        }
        Some(a) => match a.get_ref().trim().parse::<IpAddr>() {
            Ok(ip) if ip.is_unspecified() || ip.is_multicast() => {
                v.error(
                    a.span(),
                    format!("{ctx}: {ip} cannot be a virtual IP"),
                    "use a unicast address that clients route to the engine",
                );
                None
            }
            Ok(ip) => Some(ip),
            Err(_) => {
                let help = if a.get_ref().contains(':') && a.get_ref().contains('.') {
                    "write the address without a port and put the port in `port`, e.g. \
                     address = \"198.51.100.1\" and port = 80"
                } else {
                    "write an IPv4 or IPv6 address, e.g. address = \"198.51.100.1\""
                };
                v.error(
                    a.span(),
                    format!("invalid `address` {:?} in {ctx}", a.get_ref()),
                    help,
                );
                None
            }
        },
    };
    let port = v.int(
        &f.port,
        "port",
        &ctx,
        0..=65535,
        0,
        "a port from 1 to 65535, or 0 (or no `port`) for every port",
    ) as u16;
    let protocol = match choice(v, &f.protocol, "protocol", &ctx, &["tcp", "udp"]) {
        Some("udp") => VipProtocol::Udp,
        Some(_) => VipProtocol::Tcp,
        None => {
            if f.protocol.is_none() && v.report_missing(&header, &["protocol"]) {
                v.error(
                    header.clone(),
                    format!("{ctx} has no `protocol`"),
                    "add protocol = \"tcp\" or protocol = \"udp\"",
                );
            }
            VipProtocol::Tcp
        }
    };
    let mode = match choice(v, &f.mode, "mode", &ctx, &["nat", "dsr", "ipip", "gre"]) {
        Some("dsr") => ForwardMode::Dsr,
        Some("ipip") => ForwardMode::Ipip,
        Some("gre") => ForwardMode::Gre,
        Some(_) => ForwardMode::Nat,
        None => {
            if f.mode.is_none() && v.report_missing(&header, &["mode"]) {
                v.error(
                    header.clone(),
                    format!("{ctx} has no `mode`"),
                    "add mode = \"nat\", \"dsr\", \"ipip\" or \"gre\" (see docs/packet-engine.md for \
                     which to choose)",
                );
            }
            ForwardMode::Nat
        }
    };
    let interfaces = interfaces(v, f, &header, &ctx);
    if matches!(mode, ForwardMode::Ipip | ForwardMode::Gre) && engine.tunnel_source.is_none() {
        v.error(
            f.mode.as_ref().map_or(header.clone(), Spanned::span),
            format!(
                "{ctx} uses mode \"{}\" but [engine] has no `tunnel_source`",
                mode.as_str()
            ),
            "add tunnel_source = \"ENGINE-IPv4\" (or a range it owns, e.g. \"198.18.1.0/28\") \
             under [engine]: it is the outer source address of the tunnel packets",
        );
    }
    let maglev = v.int(
        &f.maglev_table_size,
        "maglev_table_size",
        &ctx,
        1..=i64::from(crate::balance::MAX_TABLE_SIZE),
        i64::from(DEFAULT_TABLE_SIZE),
        "a prime well above 100 x the number of backends, e.g. 65537 (the default)",
    );
    if let Some(m) = &f.maglev_table_size
        && !crate::balance::is_prime(u32::try_from(*m.get_ref()).unwrap_or(0))
        && (1..=i64::from(crate::balance::MAX_TABLE_SIZE)).contains(m.get_ref())
    {
        v.error(
            m.span(),
            format!("`maglev_table_size` {} in {ctx} is not a prime", m.get_ref()),
            "Maglev's permutations cover the table only when its size is prime: use e.g. 65537 or 655373",
        );
    }
    let backends = backends(v, f, &header, &ctx, address, port, mode);
    let source_nat = f.source_nat.as_ref().and_then(|sn| {
        let Ok(ip) = sn.get_ref().trim().parse::<IpAddr>() else {
            v.error(
                sn.span(),
                format!("invalid `source_nat` {:?} in {ctx}", sn.get_ref()),
                "give an address of the engine host dedicated to full NAT, e.g. source_nat = \"198.18.0.100\"",
            );
            return None;
        };
        if mode != ForwardMode::Nat {
            v.error(
                sn.span(),
                format!("{ctx}: `source_nat` needs mode = \"nat\""),
                "full NAT rewrites the client's address, which only NAT mode does (in DSR and \
                 tunnel modes the backend answers the client directly): remove `source_nat` or \
                 use mode = \"nat\"",
            );
            return None;
        }
        if address.is_some_and(|a| a.is_ipv4() != ip.is_ipv4()) {
            v.error(
                sn.span(),
                format!("{ctx}: `source_nat` {ip} is not of the vip's IP family"),
                "use an engine address of the same family as the vip and its backends",
            );
            return None;
        }
        Some(ip)
    });
    let health = f
        .health_check
        .as_ref()
        .map(|h| health(v, h, &ctx, port, &backends));
    if v.rep.error_count() > errors_before {
        return None;
    }
    Some(VipCfg {
        name: name.unwrap_or_default(),
        address: address?,
        port,
        protocol,
        mode,
        interfaces,
        backends,
        health: health.flatten(),
        maglev_table_size: u32::try_from(maglev).unwrap_or(DEFAULT_TABLE_SIZE),
        source_nat,
    })
}

fn interfaces(v: &mut V<'_, '_>, f: &FileVip, header: &Range<usize>, ctx: &str) -> Vec<String> {
    let Some(list) = &f.interfaces else {
        if v.report_missing(header, &["interfaces"]) {
            v.error(
                header.clone(),
                format!("{ctx} has no `interfaces`"),
                "name the interfaces the VIP's traffic arrives on, e.g. interfaces = [\"eth0\"]",
            );
        }
        return Vec::new();
    };
    if list.get_ref().is_empty() {
        v.error(
            list.span(),
            format!("`interfaces` of {ctx} is empty"),
            "name at least one interface, e.g. interfaces = [\"eth0\"]",
        );
    }
    let mut out: Vec<String> = Vec::new();
    for name in list.get_ref() {
        let s = name.get_ref();
        if s.is_empty() || s.len() > 15 || s.contains(['/', ' ', '\0']) {
            v.error(
                name.span(),
                format!("invalid interface name {s:?} in {ctx}"),
                "Linux interface names have 1 to 15 characters and no '/' or spaces, e.g. \"eth0\"",
            );
        } else if out.contains(s) {
            v.error(
                name.span(),
                format!("interface {s:?} is listed twice in {ctx}"),
                "list each interface once",
            );
        } else {
            out.push(s.clone());
        }
    }
    out
}

fn backends(
    v: &mut V<'_, '_>,
    f: &FileVip,
    header: &Range<usize>,
    ctx: &str,
    vip: Option<IpAddr>,
    vip_port: u16,
    mode: ForwardMode,
) -> Vec<VipBackendCfg> {
    let Some(list) = &f.backends else {
        if v.report_missing(header, &["backends"]) {
            v.error(
                header.clone(),
                format!("{ctx} has no `backends`"),
                "list the backends, e.g. backends = [{ address = \"198.18.0.11\" }] (an empty list \
                 is allowed: backends can be added at runtime with `switchyard vip add`)",
            );
        }
        return Vec::new();
    };
    let mut out: Vec<VipBackendCfg> = Vec::new();
    let mut seen: HashMap<(IpAddr, u16), Range<usize>> = HashMap::new();
    for (j, item) in list.get_ref().iter().enumerate() {
        let b: &FileVipBackend = item.get_ref();
        let bctx = format!("backend #{} of {ctx}", j + 1);
        let Some(addr) = &b.address else {
            if v.report_missing(&item.span(), &["address"]) {
                v.error(
                    item.span(),
                    format!("{bctx} has no `address`"),
                    "add address = \"198.18.0.11\"",
                );
            }
            continue;
        };
        let Ok(ip) = addr.get_ref().trim().parse::<IpAddr>() else {
            v.error(
                addr.span(),
                format!("invalid `address` {:?} in {bctx}", addr.get_ref()),
                "write the backend's IP address without a port (NAT backends may set `port`)",
            );
            continue;
        };
        let weight = v.int(
            &b.weight,
            "weight",
            &bctx,
            1..=65535,
            1,
            "a backend weight is from 1 to 65535; to stop sending a backend traffic, remove it",
        ) as u32;
        let mut port = 0u16;
        if let Some(p) = &b.port {
            let n = *p.get_ref();
            if mode != ForwardMode::Nat && n != i64::from(vip_port) {
                v.error(
                    p.span(),
                    format!("{bctx}: mode \"{}\" cannot rewrite ports", mode.as_str()),
                    match mode {
                        ForwardMode::Dsr => {
                            "in DSR the packet reaches the backend unchanged (only the MAC \
                             changes) and the backend answers the client directly from the VIP, \
                             so the backend must listen on the VIP's port: remove `port`, or use \
                             mode = \"nat\""
                        }
                        _ => {
                            "in a tunnel mode the inner packet reaches the backend unchanged and \
                             the backend answers the client directly, so it must listen on the \
                             VIP's port: remove `port`, or use mode = \"nat\""
                        }
                    },
                );
            } else if vip_port == 0 && n != 0 {
                v.error(
                    p.span(),
                    format!("{bctx} sets `port` but {ctx} takes every port"),
                    "a vip without `port` forwards each packet to the port it was sent to; set \
                     the vip's `port` to rewrite one port, or remove the backend's `port`",
                );
            } else {
                port = v.int(
                    &b.port,
                    "port",
                    &bctx,
                    1..=65535,
                    0,
                    "a port from 1 to 65535",
                ) as u16;
            }
        }
        if let Some(vip) = vip {
            let family_ok = vip.is_ipv4() == ip.is_ipv4();
            match mode {
                ForwardMode::Nat | ForwardMode::Dsr if !family_ok => v.error(
                    addr.span(),
                    format!("{bctx}: {ip} and the vip {vip} are of different IP families"),
                    format!(
                        "mode \"{}\" keeps the packet's IP version (no NAT64): use a backend of \
                         the vip's family",
                        mode.as_str()
                    ),
                ),
                ForwardMode::Ipip | ForwardMode::Gre if ip.is_ipv6() => v.error(
                    addr.span(),
                    format!("{bctx}: tunnel backends must have an IPv4 address"),
                    "the outer header of IP-in-IP and GRE is IPv4 here (IPv6 inner packets are \
                     fine): give the backend's IPv4 address",
                ),
                _ => {}
            }
            if ip == vip {
                v.error(
                    addr.span(),
                    format!("{bctx} is the vip's own address"),
                    "give the backend's real address (in DSR and tunnel modes the backend holds \
                     the VIP on its loopback as well)",
                );
            }
        }
        if let Some(first) = seen.get(&(ip, port)) {
            let line = v.line_of(first);
            v.error(
                addr.span(),
                format!("{bctx} repeats backend {ip} (first on line {line})"),
                "list each backend once; raise its weight to send it more traffic",
            );
            continue;
        }
        seen.insert((ip, port), addr.span());
        out.push(VipBackendCfg {
            address: ip,
            port,
            weight,
        });
    }
    out
}

fn health(
    v: &mut V<'_, '_>,
    h: &Spanned<FileVipHealth>,
    ctx: &str,
    vip_port: u16,
    backends: &[VipBackendCfg],
) -> Option<VipHealthCfg> {
    let f = h.get_ref();
    let hctx = format!("`health_check` of {ctx}");
    let port = v.int(
        &f.port,
        "port",
        &hctx,
        1..=65535,
        0,
        "the TCP port to connect to, 1 to 65535",
    ) as u16;
    if port == 0 && vip_port == 0 && backends.iter().any(|b| b.port == 0) {
        v.error(
            h.span(),
            format!("{hctx} has no `port` and {ctx} takes every port"),
            "say which TCP port to connect to, e.g. health_check = { port = 80 }",
        );
        return None;
    }
    let interval = v.duration(&f.interval, "interval", &hctx, "2s", false);
    let timeout = v.duration(&f.timeout, "timeout", &hctx, "1s", false);
    let rise = v.int(
        &f.rise,
        "rise",
        &hctx,
        1..=100,
        2,
        "successes in a row, 1 to 100",
    ) as u32;
    let fall = v.int(
        &f.fall,
        "fall",
        &hctx,
        1..=100,
        3,
        "failures in a row, 1 to 100",
    ) as u32;
    if timeout > interval {
        v.warning(
            f.timeout.as_ref().map_or(h.span(), Spanned::span),
            format!("{hctx}: `timeout` is longer than `interval`"),
            "a check then runs until the next one is due; make the timeout shorter than the interval",
        );
    }
    Some(VipHealthCfg {
        port,
        interval,
        timeout,
        rise,
        fall,
    })
}
