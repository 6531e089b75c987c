//! `switchyard decap`: the backend-side end of the IP-in-IP and GRE
//! forwarding modes, in user space.
//!
//! In the tunnel modes the packet engine wraps the client's packet in an
//! outer IPv4 header addressed to the backend. A backend normally unwraps
//! it with a kernel tunnel device (`ip link add ... type ipip external`,
//! `type gre`), but those drivers are modules that some kernels (containers,
//! minimal VMs, this project's CI) do not have. This module replaces them:
//!
//! ```text
//! raw socket (proto 4, 41, 47) ──recvmmsg──▶ rewrite::decap ──write──▶ TUN ──▶ local stack
//! ```
//!
//! Raw IPv4 sockets receive every tunnel packet addressed to this host,
//! outer header included; [`crate::packet::rewrite::decap`] (the same pure
//! function the unit tests and the fuzzer drive) validates it and returns
//! the inner packet, which is written to a TUN device. The kernel then
//! receives the inner packet as if it had arrived on that interface: a
//! backend holding the VIP on `lo` accepts it and answers the client
//! directly through its normal route (direct server return).
//!
//! The loop is one thread: `poll(2)` over the raw sockets and an eventfd
//! (the [`StopHandle`]), then `recvmmsg(2)` batches from each readable
//! socket. Every drop is counted by reason ([`DecapStats`]); the first drop
//! of each reason is logged with the packet's outer source, the counters
//! periodically and at exit.

mod raw;
mod stats;
mod tun;

use std::fmt;
use std::io;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use stats::{DROP_REASONS, DecapStats, Reasons, reason_of};

use crate::packet::rewrite;
use raw::{Batch, EventFd, RawSocket};
use tun::Tun;

/// Which tunnel protocols to decapsulate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocols {
    /// IP-in-IP: IP protocol 4 (IPv4 inside) and 41 (IPv6 inside).
    Ipip,
    /// GRE: IP protocol 47.
    Gre,
    /// Both.
    #[default]
    Both,
}

impl Protocols {
    /// The IP protocol numbers to open raw sockets for.
    pub fn ip_protocols(self) -> &'static [u8] {
        match self {
            Protocols::Ipip => &[4, 41],
            Protocols::Gre => &[47],
            Protocols::Both => &[4, 41, 47],
        }
    }
}

impl fmt::Display for Protocols {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocols::Ipip => "ipip",
            Protocols::Gre => "gre",
            Protocols::Both => "both",
        })
    }
}

/// How to run the decapsulator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecapOptions {
    /// Name of the TUN interface to create (1 to 15 bytes).
    pub tun_name: String,
    pub protocols: Protocols,
    /// Set `net.ipv4.conf.all.rp_filter` to 0 when it is not (otherwise
    /// only warn): strict reverse-path filtering drops every inner packet,
    /// because its source (the client) is not routed via the TUN.
    pub fix_rp_filter: bool,
    /// Log the counters this often when they changed; `None`: only at exit.
    pub stats_interval: Option<Duration>,
}

impl Default for DecapOptions {
    fn default() -> DecapOptions {
        DecapOptions {
            tun_name: "sydecap0".into(),
            protocols: Protocols::Both,
            fix_rp_filter: false,
            stats_interval: Some(Duration::from_secs(60)),
        }
    }
}

/// Why the decapsulator could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum DecapError {
    #[error(
        "{what} is not permitted: run `switchyard decap` as root (it needs CAP_NET_RAW for the \
         raw sockets and CAP_NET_ADMIN for the TUN interface)"
    )]
    NotPermitted {
        what: &'static str,
        #[source]
        source: io::Error,
    },
    #[error(
        "/dev/net/tun does not exist: load the TUN driver (`modprobe tun`) or create the device \
         node (`mkdir -p /dev/net && mknod /dev/net/tun c 10 200`); in a container, pass the \
         device in (e.g. `--device /dev/net/tun`)"
    )]
    NoTunDevice(#[source] io::Error),
    #[error(
        "{0:?} is not a valid interface name: 1 to 15 bytes without '/', ':' or whitespace \
         (pass another with --tun)"
    )]
    BadTunName(String),
    #[error(
        "cannot create TUN interface {name}: an interface of that name exists and is not a free \
         TUN device (another decap running, or a different kind of link): pick another name \
         with --tun, or remove it with `ip link del {name}`"
    )]
    TunBusy {
        name: String,
        #[source]
        source: io::Error,
    },
    #[error("cannot {what}")]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },
}

impl DecapError {
    pub(crate) fn io(what: String, source: io::Error) -> DecapError {
        DecapError::Io { what, source }
    }
}

/// Stops a running [`Decap::run`] from any thread (e.g. a signal handler
/// thread). Cloneable.
#[derive(Debug, Clone)]
pub struct StopHandle(Arc<EventFd>);

impl StopHandle {
    /// Makes [`Decap::run`] return (promptly, from its next poll).
    pub fn stop(&self) {
        self.0.signal();
    }
}

/// An open decapsulator: raw sockets, the TUN interface (up), counters.
#[derive(Debug)]
pub struct Decap {
    sockets: Vec<RawSocket>,
    tun: Tun,
    wake: Arc<EventFd>,
    opts: DecapOptions,
    stats: DecapStats,
    /// Reasons already logged once (later drops are only counted).
    logged: [bool; DROP_REASONS.len()],
}

impl Decap {
    /// Opens the raw sockets, creates the TUN interface, turns reverse-path
    /// filtering off on it and brings it up: once the interface is up,
    /// tunnel packets are being received.
    pub fn open(opts: DecapOptions) -> Result<Decap, DecapError> {
        let sockets = opts
            .protocols
            .ip_protocols()
            .iter()
            .map(|&p| RawSocket::open(p))
            .collect::<Result<Vec<_>, _>>()?;
        let tun = Tun::create(&opts.tun_name)?;
        configure_rp_filter(tun.name(), opts.fix_rp_filter);
        tun.set_up()?;
        Ok(Decap {
            sockets,
            tun,
            wake: Arc::new(EventFd::new()?),
            opts,
            stats: DecapStats::default(),
            logged: [false; DROP_REASONS.len()],
        })
    }

    /// The TUN interface's name.
    pub fn tun_name(&self) -> &str {
        self.tun.name()
    }

    /// A handle that stops [`Decap::run`].
    pub fn stop_handle(&self) -> StopHandle {
        StopHandle(self.wake.clone())
    }

    /// The counters so far.
    pub fn stats(&self) -> &DecapStats {
        &self.stats
    }

    /// Decapsulates until stopped through a [`StopHandle`]; returns the
    /// counters (also logged). Fails only if `poll(2)` itself fails.
    pub fn run(&mut self) -> Result<DecapStats, DecapError> {
        let protocols: Vec<u8> = self.sockets.iter().map(RawSocket::proto).collect();
        tracing::info!(
            tun = %self.tun.name(),
            protocols = %self.opts.protocols,
            ip_protocols = ?protocols,
            "decap running"
        );
        let mut fds = vec![self.wake.raw_fd()];
        fds.extend(self.sockets.iter().map(RawSocket::raw_fd));
        let mut ready = Vec::with_capacity(fds.len());
        let mut batch = Batch::new();
        let interval = self.opts.stats_interval.filter(|d| !d.is_zero());
        let mut next_report = interval.map(|d| Instant::now() + d);
        let mut reported = self.stats.clone();
        loop {
            let timeout = next_report.map_or(-1, |t| {
                let left = t.saturating_duration_since(Instant::now());
                // Round up so we never wake just before the deadline.
                i32::try_from(left.as_millis() + 1).unwrap_or(i32::MAX)
            });
            raw::poll_readable(&fds, timeout, &mut ready)
                .map_err(|e| DecapError::io("poll the raw sockets".into(), e))?;
            if ready.contains(&0) {
                break;
            }
            for &i in &ready {
                if let Some(sock) = self.sockets.get(i - 1) {
                    drain(
                        sock,
                        &mut batch,
                        &self.tun,
                        &mut self.stats,
                        &mut self.logged,
                    );
                }
            }
            if let (Some(t), Some(d)) = (next_report, interval)
                && Instant::now() >= t
            {
                if self.stats != reported {
                    log_stats("decap counters", &self.stats);
                    reported = self.stats.clone();
                }
                next_report = Some(Instant::now() + d);
            }
        }
        log_stats("decap stopped", &self.stats);
        Ok(self.stats.clone())
    }
}

/// Batches of one socket handled per readiness before the others get a
/// turn (fairness between IP-in-IP and GRE under load).
const BATCHES_PER_TURN: usize = 4;

/// Takes what is waiting on `sock` (up to [`BATCHES_PER_TURN`] batches)
/// and handles each packet.
fn drain(
    sock: &RawSocket,
    batch: &mut Batch,
    tun: &Tun,
    stats: &mut DecapStats,
    logged: &mut [bool; DROP_REASONS.len()],
) {
    for _ in 0..BATCHES_PER_TURN {
        let n = match batch.recv(sock) {
            Ok(n) => n,
            Err(e) => {
                drop_packet(stats, logged, stats::RECEIVE_ERROR, None, &e);
                return;
            }
        };
        for i in 0..n {
            let (packet, truncated) = batch.packet(i);
            handle(packet, truncated, tun, stats, logged);
        }
        if n < raw::BATCH {
            return;
        }
    }
}

/// Decapsulates one received packet into the TUN device, or counts why not.
fn handle(
    packet: &[u8],
    truncated: bool,
    tun: &Tun,
    stats: &mut DecapStats,
    logged: &mut [bool; DROP_REASONS.len()],
) {
    let src = outer_source(packet);
    if truncated {
        let e = format!("larger than {} bytes", raw::MAX_PACKET);
        drop_packet(stats, logged, stats::OVERSIZED, src, &e);
        return;
    }
    match rewrite::decap(packet) {
        Ok(inner) => match tun.write_packet(inner) {
            Ok(()) => {
                stats.delivered += 1;
                stats.bytes += inner.len() as u64;
            }
            Err(e) => drop_packet(stats, logged, stats::TUN_WRITE, src, &e),
        },
        Err(e) => drop_packet(stats, logged, reason_of(&e), src, &e),
    }
}

/// Counts a drop; the first one of each reason is also logged.
fn drop_packet(
    stats: &mut DecapStats,
    logged: &mut [bool; DROP_REASONS.len()],
    reason: usize,
    src: Option<Ipv4Addr>,
    error: &dyn fmt::Display,
) {
    stats.drops[reason] += 1;
    if !logged[reason] {
        logged[reason] = true;
        let from = src.map_or_else(|| "-".to_owned(), |a| a.to_string());
        tracing::warn!(
            reason = %DROP_REASONS[reason],
            from = %from,
            error = %error,
            "dropping tunnel packet (further drops for this reason are only counted)"
        );
    }
}

/// The outer source address, if the packet is long enough to have one.
fn outer_source(packet: &[u8]) -> Option<Ipv4Addr> {
    let b: [u8; 4] = packet.get(12..16)?.try_into().ok()?;
    Some(Ipv4Addr::from(b))
}

fn log_stats(msg: &str, s: &DecapStats) {
    tracing::info!(
        delivered = s.delivered,
        bytes = s.bytes,
        dropped = s.dropped_total(),
        reasons = %s.reasons(),
        "{msg}"
    );
}

/// Turns reverse-path filtering off on the TUN interface, and checks the
/// `all` setting, which wins when stricter (the kernel uses the maximum):
/// strict mode (1) drops every inner packet, since the route back to a
/// client does not point at the TUN; loose mode (2) works as long as the
/// client addresses are routable at all (a default route suffices).
/// Failures are warnings: the setting may already be right.
fn configure_rp_filter(tun: &str, fix: bool) {
    let dev = format!("/proc/sys/net/ipv4/conf/{tun}/rp_filter");
    if let Err(e) = std::fs::write(&dev, "0") {
        tracing::warn!(
            path = %dev,
            error = %e,
            "cannot turn reverse-path filtering off on the TUN interface; inner packets may be \
             dropped (set net.ipv4.conf.{tun}.rp_filter=0 yourself)"
        );
    }
    let all_path = "/proc/sys/net/ipv4/conf/all/rp_filter";
    let all = std::fs::read_to_string(all_path).unwrap_or_default();
    match all.trim() {
        "0" | "" => {}
        value if fix => match std::fs::write(all_path, "0") {
            Ok(()) => tracing::info!(
                previous = value,
                "set net.ipv4.conf.all.rp_filter=0 (--fix-rp-filter)"
            ),
            Err(e) => tracing::warn!(
                error = %e,
                "cannot set net.ipv4.conf.all.rp_filter=0; decapsulated packets may be dropped"
            ),
        },
        "2" => tracing::info!(
            "net.ipv4.conf.all.rp_filter=2 (loose): decapsulated packets are accepted only if \
             their client addresses are routable from here (a default route suffices)"
        ),
        value => tracing::warn!(
            value,
            "net.ipv4.conf.all.rp_filter is strict: the kernel drops every decapsulated packet \
             (its source is not routed via the TUN interface). Run `sysctl -w \
             net.ipv4.conf.all.rp_filter=0` (or 2), or pass --fix-rp-filter"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_numbers() {
        assert_eq!(Protocols::Ipip.ip_protocols(), &[4, 41]);
        assert_eq!(Protocols::Gre.ip_protocols(), &[47]);
        assert_eq!(Protocols::Both.ip_protocols(), &[4, 41, 47]);
        assert_eq!(Protocols::default().to_string(), "both");
    }

    #[test]
    fn outer_source_of_short_packets() {
        assert_eq!(outer_source(&[0; 15]), None);
        let mut p = [0u8; 20];
        p[12..16].copy_from_slice(&[198, 18, 0, 1]);
        assert_eq!(outer_source(&p), Some(Ipv4Addr::new(198, 18, 0, 1)));
    }
}
