//! Active health checks of packet backends: a TCP connect from the engine's
//! own network stack (its namespace), every `interval`, bounded by
//! `timeout`; `fall` failures in a row take a backend out of Maglev (its
//! existing flows drain), `rise` successes bring it back. Backends start
//! healthy, as HAProxy's do.
//!
//! The probe is behind one function ([`probe`]) so richer checks (HTTP,
//! a script, an agent) can plug in later without touching the bookkeeping.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{Inner, Shared, TICK};
use crate::config::VipHealthCfg;

#[derive(Debug)]
struct Check {
    next_due: Instant,
    ok_streak: u32,
    fail_streak: u32,
    up: bool,
    running: bool,
}

/// One check: can a TCP connection be opened within `timeout`?
async fn probe(addr: SocketAddr, timeout: Duration) -> bool {
    matches!(
        tokio::time::timeout(timeout, tokio::net::TcpStream::connect(addr)).await,
        Ok(Ok(_))
    )
}

pub(super) fn run(shared: Arc<Shared>, inner: Arc<Mutex<Inner>>) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "health checks cannot start");
            return;
        }
    };
    rt.block_on(async move {
        let mut checks: HashMap<u32, Check> = HashMap::new();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(u32, bool)>();
        let mut tick = tokio::time::interval(TICK);
        while !shared.stop.load(Ordering::Relaxed) {
            tokio::select! {
                _ = tick.tick() => {}
                Some((id, ok)) = rx.recv() => {
                    settle(&shared, &inner, &mut checks, id, ok);
                    continue;
                }
            }
            let fwd = shared.state.load();
            let mut live = Vec::new();
            for v in &fwd.vips {
                let Some(h) = &v.cfg.health else { continue };
                for b in &v.backends {
                    live.push(b.id);
                    let c = checks.entry(b.id).or_insert_with(|| Check {
                        next_due: Instant::now(),
                        ok_streak: 0,
                        fail_streak: 0,
                        up: b.healthy,
                        running: false,
                    });
                    if c.running || c.next_due > Instant::now() {
                        continue;
                    }
                    c.running = true;
                    c.next_due = Instant::now() + h.interval;
                    let addr = SocketAddr::new(b.address, check_port(h, b.port, v.cfg.port));
                    let (tx, id, timeout) = (tx.clone(), b.id, h.timeout);
                    tokio::spawn(async move {
                        let ok = probe(addr, timeout).await;
                        let _ = tx.send((id, ok));
                    });
                }
            }
            checks.retain(|id, _| live.contains(id));
        }
    });
}

/// The port a check connects to: the check's own, else the backend's, else the VIP's.
fn check_port(h: &VipHealthCfg, backend_port: u16, vip_port: u16) -> u16 {
    [h.port, backend_port, vip_port]
        .into_iter()
        .find(|p| *p != 0)
        .unwrap_or(0)
}

fn settle(
    shared: &Shared,
    inner: &Mutex<Inner>,
    checks: &mut HashMap<u32, Check>,
    id: u32,
    ok: bool,
) {
    let fwd = shared.state.load();
    let Some((vip, b)) = fwd.backend(id) else {
        return;
    };
    let Some(h) = &vip.cfg.health else { return };
    let Some(c) = checks.get_mut(&id) else { return };
    c.running = false;
    if ok {
        c.ok_streak += 1;
        c.fail_streak = 0;
    } else {
        c.fail_streak += 1;
        c.ok_streak = 0;
    }
    let flip = if c.up && c.fail_streak >= h.fall {
        Some(false)
    } else if !c.up && c.ok_streak >= h.rise {
        Some(true)
    } else {
        None
    };
    let Some(up) = flip else { return };
    c.up = up;
    if up {
        tracing::info!(vip = %vip.cfg.name, backend = %b.address, "backend passed its health checks: back in service");
    } else {
        tracing::warn!(vip = %vip.cfg.name, backend = %b.address, failures = c.fail_streak, "backend failed its health checks: no new flows, existing flows drain");
    }
    if let Ok(mut inner) = inner.lock() {
        inner.health.insert(id, up);
        inner.rebuild(shared);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_check_port_falls_back_in_order() {
        let h = |port| VipHealthCfg {
            port,
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            rise: 2,
            fall: 3,
        };
        assert_eq!(check_port(&h(8081), 8080, 80), 8081);
        assert_eq!(check_port(&h(0), 8080, 80), 8080);
        assert_eq!(check_port(&h(0), 0, 80), 80);
    }
}
