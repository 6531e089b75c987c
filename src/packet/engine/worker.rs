//! A packet worker thread: receive a batch on each of its ports, decide
//! every frame (`forward`), transmit the results as a batch, repeat. One per
//! core; each owns its connection table, so nothing on this path locks.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::Shared;
use super::forward::{Emit, Forwarder, Iface};
use crate::packet::conntrack::FlowState;
use crate::packet::io::Port;

/// Frames taken from one port per batch.
const BATCH: usize = 64;
/// How long an idle worker waits in `recv` before checking for changes.
const IDLE_WAIT: Duration = Duration::from_millis(50);
/// How often the live-flow counts are recomputed.
const ACTIVE_EVERY: Duration = Duration::from_secs(1);

/// Frames decided during a receive, waiting to be transmitted.
#[derive(Default)]
struct Staged {
    buf: Vec<u8>,
    ends: Vec<usize>,
}

/// Sends IP packets through the kernel (next hop not resolved yet).
struct KernelPath {
    v4: Option<socket2::Socket>,
    v6: Option<socket2::Socket>,
}

impl KernelPath {
    fn new() -> KernelPath {
        let raw = |d| {
            socket2::Socket::new(d, socket2::Type::RAW, Some(socket2::Protocol::from(255))).ok()
        };
        KernelPath {
            v4: raw(socket2::Domain::IPV4),
            v6: raw(socket2::Domain::IPV6),
        }
    }

    fn send(&self, dst: IpAddr, packet: &[u8]) {
        let sock = if dst.is_ipv4() { &self.v4 } else { &self.v6 };
        if let Some(s) = sock {
            let _ = s.send_to(packet, &SocketAddr::new(dst, 0).into());
        }
    }
}

pub(super) struct WorkerCfg {
    pub flow_table_size: usize,
    pub timeouts: crate::packet::conntrack::Timeouts,
    /// This worker's index and how many there are (for CPU pinning).
    pub index: usize,
    pub workers: usize,
}

/// One worker per core: with at most as many workers as CPUs this process
/// may run on, worker `i` is pinned to the `i`-th of them, so a worker's
/// flows, connection table and ring stay in one core's caches.
fn pin(index: usize, workers: usize) {
    // SAFETY: cpu_set_t is plain data; sched_{get,set}affinity read/write
    // exactly one of them for the calling thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return;
        }
        let allowed: Vec<usize> = (0..libc::CPU_SETSIZE as usize)
            .filter(|c| libc::CPU_ISSET(*c, &set))
            .collect();
        if workers > allowed.len() {
            return;
        }
        let Some(&cpu) = allowed.get(index) else {
            return;
        };
        let mut one: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut one);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &one) == 0 {
            tracing::debug!(worker = index, cpu, "packet worker pinned");
        }
    }
}

/// Runs until `shared.stop` is set.
pub(super) fn run(
    mut ports: Vec<Box<dyn Port>>,
    ifaces: Vec<Iface>,
    shared: Arc<Shared>,
    cfg: WorkerCfg,
) {
    pin(cfg.index, cfg.workers);
    let mut fwd_state =
        Forwarder::with_snat(cfg.flow_table_size, cfg.timeouts, shared.snat.clone());
    let kernel = KernelPath::new();
    let mut staged: Vec<Staged> = (0..ports.len()).map(|_| Staged::default()).collect();
    let mut generation = u64::MAX;
    let mut ids: HashSet<u32> = HashSet::new();
    let mut published: std::collections::HashMap<u32, u64> = std::collections::HashMap::new();
    let mut last_active = Instant::now();
    let wait = if ports.len() > 1 {
        Duration::from_millis(1)
    } else {
        IDLE_WAIT
    };
    while !shared.stop.load(Ordering::Relaxed) {
        let mut fwd = shared.state.load();
        let neigh = shared.neigh.load();
        if fwd.generation != generation {
            // Backends gone from the configuration lose their flows, which
            // re-hash to live backends on their next packet.
            let now_ids: HashSet<u32> = fwd.backend_ids().collect();
            for gone in ids.difference(&now_ids) {
                fwd_state.table.remove_backend(*gone);
                published.remove(gone);
            }
            ids = now_ids;
            generation = fwd.generation;
        }
        let now = shared.epoch.elapsed().as_nanos() as u64;
        let mut got = 0;
        for (i, port) in ports.iter_mut().enumerate() {
            let r = port.recv(BATCH, wait, &mut |frame| {
                // A change made while this worker waited applies to the
                // very next packet (health, `vip` commands, reloads).
                if shared.generation.load(Ordering::Acquire) != fwd.generation {
                    fwd = shared.state.load();
                }
                fwd_state.handle(&fwd, &neigh, &ifaces, i, frame, now, &mut |out| match out {
                    Emit::Frame { port, frame } => {
                        if let Some(s) = staged.get_mut(port) {
                            s.buf.extend_from_slice(frame);
                            s.ends.push(s.buf.len());
                        }
                    }
                    Emit::Ip { dst, packet } => kernel.send(dst, packet),
                });
            });
            match r {
                Ok(n) => got += n,
                Err(e) => {
                    tracing::error!(error = %e, "packet worker: receive failed");
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
        for (port, s) in ports.iter_mut().zip(&mut staged) {
            let mut start = 0;
            for &end in &s.ends {
                if !matches!(port.send(&s.buf[start..end]), Ok(true)) {
                    shared.drops.tx_full.fetch_add(1, Ordering::Relaxed);
                }
                start = end;
            }
            if !s.ends.is_empty()
                && let Err(e) = port.flush()
            {
                tracing::warn!(error = %e, "packet worker: transmit failed");
            }
            s.buf.clear();
            s.ends.clear();
        }
        fwd_state.flush_stats(&fwd, &shared.drops);
        if !fwd_state.wanted.is_empty() {
            if let Ok(mut w) = shared.wanted.try_lock() {
                for ip in fwd_state.wanted.drain(..) {
                    if w.len() < 1024 && !w.contains(&ip) {
                        w.push(ip);
                    }
                }
            }
            fwd_state.wanted.clear();
        }
        fwd_state.table.expire(now, if got == 0 { 64 } else { 4 });
        if last_active.elapsed() >= ACTIVE_EVERY {
            last_active = Instant::now();
            publish_active(&fwd_state, &fwd, &mut published, now);
        }
    }
}

/// Publishes this worker's live-flow count per backend as a delta on the
/// shared counter (which sums every worker's).
fn publish_active(
    f: &Forwarder,
    fwd: &super::state::Forwarding,
    published: &mut std::collections::HashMap<u32, u64>,
    now: u64,
) {
    let t = f.table.timeouts();
    let mut counts: std::collections::HashMap<u32, u64> = std::collections::HashMap::new();
    for e in f.table.iter() {
        let life = match e.state {
            FlowState::TcpSyn => t.tcp_syn,
            FlowState::TcpEstablished => t.tcp_established,
            FlowState::TcpClosing => t.tcp_closing,
            FlowState::Udp => t.udp,
        };
        if now.saturating_sub(e.last_seen) < life.as_nanos() as u64 {
            *counts.entry(e.backend).or_default() += 1;
        }
    }
    for id in fwd.backend_ids() {
        let new = counts.get(&id).copied().unwrap_or(0);
        let old = published.insert(id, new).unwrap_or(0);
        if let Some((_, b)) = fwd.backend(id) {
            if new > old {
                b.stats.active.fetch_add(new - old, Ordering::Relaxed);
            } else if old > new {
                b.stats.active.fetch_sub(old - new, Ordering::Relaxed);
            }
        }
    }
}
