//! The packet engine end to end, across network namespaces: a client, the
//! engine and backends on one bridge, real TCP (HTTP) from the client to
//! the VIP, for each forwarding mode (NAT, DSR, IP-in-IP, GRE).
//!
//! Every mode is checked for: connections spread over the backends exactly
//! as Maglev says (computed here, independently of the engine); the
//! engine's counters (it sees replies in NAT only); a backend added at
//! runtime leaves established connections where they are; a backend
//! removed moves only its own flows; a second engine that takes over
//! mid-flow (the client's route to the VIP is switched to it) keeps every
//! connection on its backend.
//!
//! Addresses: client 203.0.113.10/24, VIP 198.51.100.1, engines
//! 203.0.113.1 and .2 (and 198.18.0.1 and .2), backends 198.18.0.11-14.
//! Needs root; skips with a printed reason otherwise.

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::netns::{Backend, Host, KeepAlive, Lab, NsProcess, require_root};
use switchyard::balance::{Maglev, Member};
use switchyard::packet::flow::{FlowKey, PROTO_TCP, flow_hash};

const VIP: &str = "198.51.100.1";
const T: Duration = Duration::from_secs(5);

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_switchyard"))
}

fn vip_addr() -> SocketAddr {
    SocketAddr::new(VIP.parse().unwrap(), 80)
}

/// One lab: client, two engines, four backends (the fourth starts outside
/// the VIP and is added at runtime).
struct Topo {
    dir: PathBuf,
    client: Host,
    engines: Vec<(Host, NsProcess)>,
    backends: Vec<(Host, Backend, Option<NsProcess>)>,
    // Dropped last: the namespaces go after every process in them.
    _lab: Lab,
}

fn config(mode: &str, socket: &Path, backends: usize) -> String {
    config_with(mode, socket, backends, "af_packet")
}

fn config_with(mode: &str, socket: &Path, backends: usize, data_path: &str) -> String {
    let list: Vec<String> = (1..=backends)
        .map(|i| format!("{{ address = \"198.18.0.1{i}\" }}"))
        .collect();
    format!(
        "[engine]\ndata_path = \"{data_path}\"\nworkers = 2\ncontrol_socket = \"{}\"\ntunnel_source = \"198.18.0.1\"\n\n\
         [[vip]]\nname = \"web\"\naddress = \"{VIP}\"\nport = 80\nprotocol = \"tcp\"\n\
         mode = \"{mode}\"\ninterfaces = [\"eth0\"]\n\
         health_check = {{ interval = \"300ms\", timeout = \"200ms\", rise = 1, fall = 2 }}\n\
         backends = [ {} ]\n",
        socket.display(),
        list.join(", ")
    )
}

impl Topo {
    fn new(mode: &'static str) -> Topo {
        Topo::with_data_path(mode, "af_packet")
    }

    fn with_data_path(mode: &'static str, data_path: &str) -> Topo {
        let lab = Lab::new();
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("sy-pe-{}-{n}-{mode}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let client = lab.host("client", &["203.0.113.10/24"]);
        client.route(&format!("{VIP}/32 via 203.0.113.1"));
        let mut backends = Vec::new();
        for i in 1..=4 {
            let h = lab.host(&format!("b{i}"), &[&format!("198.18.0.1{i}/24")]);
            let mut decap = None;
            if mode == "nat" {
                h.route("default via 198.18.0.1");
            } else {
                h.add_addr(&format!("{VIP}/32"), "lo");
                for dev in ["all", "eth0"] {
                    h.sysctl(&format!("net.ipv4.conf.{dev}.arp_ignore"), "1");
                    h.sysctl(&format!("net.ipv4.conf.{dev}.arp_announce"), "2");
                }
                h.route("203.0.113.0/24 dev eth0");
            }
            if mode == "ipip" || mode == "gre" {
                let mut p = h.spawn(bin(), &["decap", "--protocol", mode]);
                let deadline = Instant::now() + T;
                while !h.has_link("sydecap0", true) {
                    assert!(
                        Instant::now() < deadline,
                        "decap did not start:\n{}",
                        p.output()
                    );
                    assert!(p.try_status().is_none(), "decap exited:\n{}", p.output());
                    std::thread::sleep(Duration::from_millis(20));
                }
                decap = Some(p);
            }
            let backend = h.http_backend(&format!("b{i}"), "0.0.0.0:80".parse().unwrap());
            backends.push((h, backend, decap));
        }
        let mut engines = Vec::new();
        for e in 1..=2 {
            let h = lab.host(
                &format!("e{e}"),
                &[&format!("203.0.113.{e}/24"), &format!("198.18.0.{e}/24")],
            );
            let socket = dir.join(format!("engine{e}.sock"));
            let path = dir.join(format!("engine{e}.toml"));
            std::fs::write(&path, config_with(mode, &socket, 3, data_path)).unwrap();
            let mut p = h.spawn(bin(), &["run", "-c", path.to_str().unwrap()]);
            assert!(
                p.wait_output("packet engine started", Duration::from_secs(10)),
                "engine {e} did not start:\n{}",
                p.output()
            );
            engines.push((h, p));
        }
        Topo {
            dir,
            client,
            engines,
            backends,
            _lab: lab,
        }
    }

    fn vip(&self, engine: usize, args: &[&str]) -> String {
        let socket = self.dir.join(format!("engine{engine}.sock"));
        let out = std::process::Command::new(bin())
            .args(["vip", "-s", socket.to_str().unwrap()])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "vip {args:?} failed: {}\nengine output:\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.engines[engine - 1].1.output()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `vip list --stats` counters of backend `b{i}`: (active, flows,
    /// in packets, out packets).
    fn counters(&self, engine: usize, i: usize) -> (u64, u64, u64, u64) {
        let list = self.vip(engine, &["list", "--stats"]);
        let line = list
            .lines()
            .find(|l| l.starts_with(&format!("  -> 198.18.0.1{i}:")))
            .unwrap_or_else(|| panic!("no b{i} in:\n{list}"));
        let n: Vec<u64> = line
            .split_whitespace()
            .skip(4)
            .filter_map(|w| w.parse().ok())
            .collect();
        (n[0], n[1], n[2], n[4])
    }

    fn connect(&self) -> KeepAlive {
        self.client.keepalive(vip_addr(), T)
    }
}

impl Drop for Topo {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The backend Maglev gives the flow of a connection from `port` (the
/// engine's member ids are the backend addresses, in config order).
fn maglev_choice(backends: &[u8], port: u16) -> String {
    let members: Vec<Member> = backends
        .iter()
        .map(|i| Member {
            id: format!("198.18.0.1{i}"),
            weight: 1,
        })
        .collect();
    let m = Maglev::new(&members, 65537);
    let key = FlowKey {
        proto: PROTO_TCP,
        src: IpAddr::V4(Ipv4Addr::new(203, 0, 113, 10)),
        dst: VIP.parse().unwrap(),
        sport: port,
        dport: 80,
    };
    format!("b{}", backends[m.lookup(flow_hash(&key))])
}

fn get(c: &mut KeepAlive, mode: &str) -> String {
    c.get("/")
        .unwrap_or_else(|e| panic!("{mode}: request on port {} failed: {e}", c.local_port()))
}

fn exercise(mode: &'static str) {
    exercise_on(mode, "af_packet");
}

fn exercise_on(mode: &'static str, data_path: &str) {
    let t = Topo::with_data_path(mode, data_path);
    assert!(
        t.vip(1, &["list"]).contains(data_path),
        "{mode}: engine not on {data_path}:\n{}",
        t.engines[0].1.output()
    );

    // 1. Thirty connections land exactly where Maglev puts them.
    let mut conns: Vec<(KeepAlive, String)> = Vec::new();
    for _ in 0..30 {
        let mut c = t.connect();
        let got = get(&mut c, mode);
        assert_eq!(
            got,
            maglev_choice(&[1, 2, 3], c.local_port()),
            "{mode}: port {}",
            c.local_port()
        );
        conns.push((c, got));
    }
    for b in ["b1", "b2", "b3"] {
        assert!(
            conns.iter().any(|(_, g)| g == b),
            "{mode}: {b} got no connection"
        );
    }

    // The kernel of the engine host never processed those frames itself:
    // AF_XDP takes them away, and AF_PACKET's tc shield drops them after
    // the engine's copy (without it, each would be an address error).
    if data_path == "af_packet" {
        assert!(
            t.vip(1, &["list"]).contains("tc shield"),
            "{mode}: no tc shield"
        );
    }
    let snmp = t.engines[0].0.sh("cat /proc/net/snmp");
    let snmp = String::from_utf8_lossy(&snmp.stdout).into_owned();
    let ip: Vec<&str> = snmp.lines().filter(|l| l.starts_with("Ip:")).collect();
    let col = ip[0]
        .split_whitespace()
        .position(|w| w == "InAddrErrors")
        .unwrap();
    let addr_errors: u64 = ip[1].split_whitespace().nth(col).unwrap().parse().unwrap();
    assert!(
        addr_errors < 5,
        "{mode}: the engine host's kernel processed {addr_errors} of the engine's frames"
    );

    // 2. Counters: the engine saw the requests; replies only in NAT.
    let (mut flows, mut inp, mut outp) = (0, 0, 0);
    for i in 1..=3 {
        let (_, f, pin, pout) = t.counters(1, i);
        flows += f;
        inp += pin;
        outp += pout;
    }
    assert!(flows >= 30, "{mode}: {flows} flows counted");
    assert!(
        inp >= 90,
        "{mode}: {inp} packets in (SYN, ACK, request per connection)"
    );
    if mode == "nat" {
        assert!(outp >= 60, "{mode}: NAT replies pass the engine ({outp})");
    } else {
        assert_eq!(outp, 0, "{mode}: replies go straight to the client");
    }

    // 3. A second engine takes over mid-flow (ECMP moved the flows, or the
    //    first engine restarted): with the same backends, Maglev gives it
    //    the same choice, so every connection keeps its backend.
    t.client
        .ip(&format!("route replace {VIP}/32 via 203.0.113.2"));
    for (c, was) in &mut conns {
        assert_eq!(
            &get(c, mode),
            was,
            "{mode}: the second engine chose another backend"
        );
    }
    let (_, adopted, _, _) = (1..=3)
        .map(|i| t.counters(2, i))
        .fold((0, 0, 0, 0), |a, b| (0, a.1 + b.1, 0, 0));
    assert!(
        adopted >= 30,
        "{mode}: the second engine adopted {adopted} flows"
    );

    // 4. A backend added at runtime (to both engines, as a reload of one
    //    config would; in NAT the backends' replies return through the
    //    first engine): established connections stay put, new ones use it
    //    too.
    t.vip(1, &["add", "web", "198.18.0.14"]);
    t.vip(2, &["add", "web", "198.18.0.14"]);
    for (c, was) in &mut conns {
        assert_eq!(
            &get(c, mode),
            was,
            "{mode}: an established connection moved"
        );
    }
    let mut to_b4 = 0;
    for _ in 0..30 {
        let mut c = t.connect();
        let got = get(&mut c, mode);
        assert_eq!(got, maglev_choice(&[1, 2, 3, 4], c.local_port()));
        to_b4 += usize::from(got == "b4");
    }
    assert!(to_b4 > 0, "{mode}: the new backend got no new connection");

    // 5. Removing a backend moves only its flows.
    t.vip(1, &["remove", "web", "198.18.0.11"]);
    t.vip(2, &["remove", "web", "198.18.0.11"]);
    for (c, was) in conns.iter_mut().filter(|(_, was)| was != "b1") {
        assert_eq!(
            &get(c, mode),
            was,
            "{mode}: a flow of a remaining backend moved"
        );
    }
    for _ in 0..20 {
        let mut c = t.connect();
        assert_ne!(
            get(&mut c, mode),
            "b1",
            "{mode}: a removed backend got a new connection"
        );
    }
    drop(t);
}

#[test]
fn nat_mode_end_to_end() {
    if require_root("nat_mode_end_to_end") {
        exercise("nat");
    }
}

#[test]
fn dsr_mode_end_to_end() {
    if require_root("dsr_mode_end_to_end") {
        exercise("dsr");
    }
}

#[test]
fn ipip_mode_end_to_end() {
    if require_root("ipip_mode_end_to_end") {
        exercise("ipip");
    }
}

#[test]
fn gre_mode_end_to_end() {
    if require_root("gre_mode_end_to_end") {
        exercise("gre");
    }
}

#[test]
fn nat_mode_on_af_xdp() {
    if require_root("nat_mode_on_af_xdp") {
        exercise_on("nat", "af_xdp");
    }
}

#[test]
fn dsr_mode_on_af_xdp() {
    if require_root("dsr_mode_on_af_xdp") {
        exercise_on("dsr", "af_xdp");
    }
}

#[test]
fn gre_mode_on_af_xdp() {
    if require_root("gre_mode_on_af_xdp") {
        exercise_on("gre", "af_xdp");
    }
}

/// A backend that stops answering health checks leaves Maglev (no new
/// flows) and comes back when it answers again.
#[test]
fn a_failing_backend_leaves_maglev_and_comes_back() {
    if !require_root("a_failing_backend_leaves_maglev_and_comes_back") {
        return;
    }
    let mut t = Topo::new("nat");
    let wait_state = |t: &Topo, want: &str| {
        let deadline = Instant::now() + T;
        loop {
            let list = t.vip(1, &["list"]);
            let line = list
                .lines()
                .find(|l| l.contains("198.18.0.13:"))
                .unwrap_or_default()
                .to_string();
            if line.split_whitespace().nth(3) == Some(want) {
                return;
            }
            assert!(Instant::now() < deadline, "b3 never became {want}:\n{list}");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let (host3, backend, _) = t.backends.remove(2);
    drop(backend);
    wait_state(&t, "down");
    for _ in 0..20 {
        let mut c = t.client.try_keepalive(vip_addr(), T).unwrap_or_else(|e| {
            panic!(
                "connect after b3 went down: {e}\n{}\nengine:\n{}",
                t.vip(1, &["list", "--stats"]),
                t.engines[0].1.output()
            )
        });
        let got = get(&mut c, "nat");
        assert_eq!(
            got,
            maglev_choice(&[1, 2], c.local_port()),
            "Maglev without b3"
        );
    }
    let back = host3.http_backend("b3", "0.0.0.0:80".parse().unwrap());
    wait_state(&t, "up");
    drop(back);
}

/// SIGHUP applies the file's VIPs (a bad file changes nothing).
#[test]
fn a_reload_applies_the_vips_and_a_bad_file_changes_nothing() {
    if !require_root("a_reload_applies_the_vips_and_a_bad_file_changes_nothing") {
        return;
    }
    let mut t = Topo::new("nat");
    let path = t.dir.join("engine1.toml");
    let socket = t.dir.join("engine1.sock");
    let backends_listed = |t: &Topo| {
        t.vip(1, &["list"])
            .lines()
            .filter(|l| l.starts_with("  -> 198."))
            .count()
    };
    let mut c = t.connect();
    let first = get(&mut c, "nat");
    let wait_for = |t: &mut Topo, n: usize| {
        let deadline = Instant::now() + T;
        while backends_listed(t) != n {
            assert!(
                Instant::now() < deadline,
                "still not {n} backends:\n{}",
                t.engines[0].1.output()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    std::fs::write(&path, "[[vip]]\nname = \"web\"\nmode = \"bogus\"\n").unwrap();
    t.engines[0].1.signal(libc::SIGHUP);
    let deadline = Instant::now() + T;
    while !t.engines[0].1.output().contains("reload refused") {
        assert!(
            Instant::now() < deadline,
            "no refusal logged:\n{}",
            t.engines[0].1.output()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(backends_listed(&t), 3, "a bad file changes nothing");
    std::fs::write(&path, config("nat", &socket, 4)).unwrap();
    t.engines[0].1.signal(libc::SIGHUP);
    wait_for(&mut t, 4);
    assert_eq!(
        get(&mut c, "nat"),
        first,
        "an established connection stays put across the reload"
    );
}

/// IPv6 VIPs: NAT and DSR carry real HTTP from an IPv6 client, placed as
/// Maglev says, with next hops from the IPv6 neighbour (NDP) table.
#[test]
fn ipv6_vips_in_nat_and_dsr() {
    if !require_root("ipv6_vips_in_nat_and_dsr") {
        return;
    }
    for mode in ["nat", "dsr"] {
        let lab = Lab::new();
        let vip6 = "2001:db8:100::1";
        let client = lab.host("client", &["2001:db8:1::10/64"]);
        client.route(&format!("{vip6}/128 via 2001:db8:1::1"));
        let mut keep = Vec::new();
        for i in 1..=3 {
            let h = lab.host(&format!("b{i}"), &[&format!("2001:db8:2::1{i}/64")]);
            if mode == "nat" {
                h.ip("-6 route add default via 2001:db8:2::1");
            } else {
                h.add_addr(&format!("{vip6}/128"), "lo");
                h.ip("-6 route add 2001:db8:1::/64 dev eth0");
            }
            let b = h.http_backend(&format!("b{i}"), "[::]:80".parse().unwrap());
            keep.push((h, b));
        }
        let engine = lab.host("e1", &["2001:db8:1::1/64", "2001:db8:2::1/64"]);
        // Without a route to the VIP the engine host's IPv6 stack would
        // answer the client's packets with "no route" (IPv4 stays silent).
        engine.ip(&format!("-6 route add blackhole {vip6}/128"));
        let dir = std::env::temp_dir().join(format!("sy-pe6-{}-{mode}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // One admin socket: [engine] names none, [global] serves both.
        let admin = dir.join("admin.sock");
        let cfg = format!(
            "[global]\ncontrol_socket = \"{}\"\n[engine]\nworkers = 1\n\n[[vip]]\nname = \"web6\"\n\
             address = \"{vip6}\"\nport = 80\nprotocol = \"tcp\"\nmode = \"{mode}\"\n\
             interfaces = [\"eth0\"]\nbackends = [ {{ address = \"2001:db8:2::11\" }}, \
             {{ address = \"2001:db8:2::12\" }}, {{ address = \"2001:db8:2::13\" }} ]\n",
            admin.display(),
        );
        let path = dir.join("engine.toml");
        std::fs::write(&path, cfg).unwrap();
        let mut p = engine.spawn(bin(), &["run", "-c", path.to_str().unwrap()]);
        assert!(
            p.wait_output("packet engine started", Duration::from_secs(10)),
            "{}",
            p.output()
        );
        let members: Vec<Member> = (1..=3)
            .map(|i| Member {
                id: format!("2001:db8:2::1{i}"),
                weight: 1,
            })
            .collect();
        let m = Maglev::new(&members, 65537);
        let addr: SocketAddr = format!("[{vip6}]:80").parse().unwrap();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..12 {
            let mut c = client.try_keepalive(addr, T).unwrap_or_else(|e| {
                let stats = std::process::Command::new(bin())
                    .args(["vip", "-s", admin.to_str().unwrap(), "list", "--stats"])
                    .output()
                    .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                    .unwrap_or_default();
                let neigh = engine
                    .sh("ip -6 neigh; nstat -az Ip6OutNoRoutes Ip6InNoRoutes Icmp6OutDestUnreachs");
                panic!(
                    "{mode}: connect over IPv6: {e}\n{stats}\n{}\nengine:\n{}",
                    String::from_utf8_lossy(&neigh.stdout),
                    p.output()
                )
            });
            let got = get(&mut c, mode);
            let key = FlowKey {
                proto: PROTO_TCP,
                src: "2001:db8:1::10".parse().unwrap(),
                dst: vip6.parse().unwrap(),
                sport: c.local_port(),
                dport: 80,
            };
            assert_eq!(got, format!("b{}", m.lookup(flow_hash(&key)) + 1), "{mode}");
            seen.insert(got);
        }
        assert!(seen.len() >= 2, "{mode}: IPv6 flows spread ({seen:?})");
        // One admin socket answers for the engine too.
        let out = std::process::Command::new(bin())
            .args(["vip", "-s", admin.to_str().unwrap(), "list"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains("[2001:db8:100::1]:80"),
            "{text}"
        );
        drop(p);
        drop(keep);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// Full NAT (`source_nat`): backends with no route to the clients still
/// answer, because they see the engine's address as the source. On both
/// data paths (the kernel must not see the replies: AF_PACKET's tc shield
/// and AF_XDP's program keep them from it).
#[test]
fn full_nat_needs_no_route_on_the_backends() {
    if !require_root("full_nat_needs_no_route_on_the_backends") {
        return;
    }
    for data_path in ["af_packet", "af_xdp"] {
        let lab = Lab::new();
        let client = lab.host("client", &["203.0.113.10/24"]);
        client.route(&format!("{VIP}/32 via 203.0.113.1"));
        let mut keep = Vec::new();
        for i in 1..=2 {
            // Only the on-link 198.18.0.0/24: no way back to 203.0.113.10.
            let h = lab.host(&format!("b{i}"), &[&format!("198.18.0.1{i}/24")]);
            let b = h.http_backend(&format!("b{i}"), "0.0.0.0:80".parse().unwrap());
            keep.push((h, b));
        }
        let engine = lab.host("e1", &["203.0.113.1/24", "198.18.0.1/24"]);
        engine.add_addr("198.18.0.100/24", "eth0");
        let dir = std::env::temp_dir().join(format!("sy-fnat-{}-{data_path}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let socket = dir.join("engine.sock");
        let cfg = format!(
            "[engine]\ndata_path = \"{data_path}\"\nworkers = 2\ncontrol_socket = \"{}\"\n\n\
             [[vip]]\nname = \"web\"\naddress = \"{VIP}\"\nport = 80\nprotocol = \"tcp\"\n\
             mode = \"nat\"\nsource_nat = \"198.18.0.100\"\ninterfaces = [\"eth0\"]\n\
             backends = [ {{ address = \"198.18.0.11\" }}, {{ address = \"198.18.0.12\" }} ]\n",
            socket.display()
        );
        let path = dir.join("engine.toml");
        std::fs::write(&path, cfg).unwrap();
        let mut p = engine.spawn(bin(), &["run", "-c", path.to_str().unwrap()]);
        assert!(
            p.wait_output("packet engine started", Duration::from_secs(10)),
            "{}",
            p.output()
        );
        let mut conns = Vec::new();
        for _ in 0..16 {
            let mut c = client.try_keepalive(vip_addr(), T).unwrap_or_else(|e| {
                panic!(
                    "{data_path}: full NAT connect: {e}\nengine:\n{}",
                    p.output()
                )
            });
            let got = get(&mut c, data_path);
            assert_eq!(got, maglev_choice(&[1, 2], c.local_port()), "{data_path}");
            conns.push((c, got));
        }
        for (c, was) in &mut conns {
            assert_eq!(
                &get(c, "full nat"),
                was,
                "{data_path}: a second request on the same connection"
            );
        }
        drop(p);
        drop(keep);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
