//! The UDP proxy: per-flow balancing with a session table.
//!
//! Each worker reads its share of the listener's datagrams (one socket per
//! worker in an `SO_REUSEPORT` group: the kernel keeps a client's flow on
//! one socket). The first datagram of a flow picks an endpoint and opens a
//! connected upstream socket; later datagrams follow it; replies from the
//! endpoint are sent back to the client from the listener's own address.
//! Flows expire after `idle_timeout` of silence; at most `max_sessions`
//! are tracked (per worker).

use std::cell::RefCell;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;

use super::udp_sessions::{Lookup, SessionTable};
use crate::balance::client_key;
use crate::config::HashKey;
use crate::runtime::ListenerSlot;
use crate::upstream::endpoint::now_ns;
use crate::upstream::{InFlight, Pool};
use crate::worker::WorkerCtx;

/// Largest datagram relayed (the IPv4/IPv6 UDP payload limit).
const MAX_DATAGRAM: usize = 65_535;

/// The data path's state of one flow.
struct Flow {
    upstream: Rc<UdpSocket>,
    pool: Arc<Pool>,
    reply_task: tokio::task::JoinHandle<()>,
    _inflight: InFlight,
}

impl Drop for Flow {
    fn drop(&mut self) {
        self.reply_task.abort();
    }
}

type Table = Rc<RefCell<SessionTable<Flow>>>;

/// Serves one worker's socket of a UDP listener until the listener stops.
pub async fn serve(socket: UdpSocket, slot: Arc<ListenerSlot>, worker: Rc<WorkerCtx>) {
    let socket = Rc::new(socket);
    let Some(first) = slot
        .rt
        .load()
        .udp
        .as_ref()
        .map(|u| (u.session_timeout, u.max_sessions))
    else {
        return;
    };
    let (timeout, max) = first;
    let table: Table = Rc::new(RefCell::new(SessionTable::new(nanos(timeout), max)));
    let mut stop = slot.stop.subscribe();
    let stopped = stop.wait_for(|s| *s);
    tokio::pin!(stopped);
    let tick = (timeout / 4).clamp(Duration::from_millis(10), Duration::from_secs(5));
    let mut sweep = tokio::time::interval(tick);
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut dropped_full = 0u64;
    loop {
        tokio::select! {
            biased;
            _ = &mut stopped => return,
            r = socket.recv_from(&mut buf) => {
                let (n, client) = match r {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::debug!(error = %e, "udp receive failed");
                        continue;
                    }
                };
                if !forward(&socket, &slot, &table, &worker, client, &buf[..n]).await {
                    dropped_full += 1;
                    if dropped_full.is_power_of_two() {
                        tracing::warn!(listener = %slot.rt.load().name, dropped = dropped_full, max, "udp session table full: datagrams of new flows dropped");
                    }
                }
            }
            _ = sweep.tick() => {
                let now = now_ns();
                let mut t = table.borrow_mut();
                // A reload may have changed the limits of this kept listener.
                if let Some(u) = slot.rt.load().udp.as_ref() {
                    t.set_limits(nanos(u.session_timeout), u.max_sessions);
                }
                drop(t.expire(now));
                // Flows of endpoints that left the configuration move once
                // their drain time is over.
                drop(t.remove_draining(now));
            }
        }
    }
}

/// Forwards one datagram; false when it was dropped for a full table.
async fn forward(
    socket: &Rc<UdpSocket>,
    slot: &Arc<ListenerSlot>,
    table: &Table,
    worker: &Rc<WorkerCtx>,
    client: SocketAddr,
    data: &[u8],
) -> bool {
    let now = now_ns();
    let mut lookup = table.borrow_mut().lookup(client, now);
    if let Lookup::Existing(_) = lookup {
        // A flow on an endpoint whose drain time is over moves now, not at
        // the next sweep.
        let mut t = table.borrow_mut();
        let drained = t.get_mut(&client).is_some_and(|s| drain_over(s, now));
        if drained {
            drop(t.remove_client(&client));
            lookup = t.lookup(client, now);
        }
    }
    if lookup == Lookup::Full {
        // A reload may have raised the limit since the last sweep: apply it
        // before refusing the flow.
        if let Some(u) = slot.rt.load().udp.as_ref() {
            table
                .borrow_mut()
                .set_limits(nanos(u.session_timeout), u.max_sessions);
        }
        drop(table.borrow_mut().expire(now));
        lookup = table.borrow_mut().lookup(client, now);
    }
    match lookup {
        Lookup::Existing(_) => {
            let upstream = table
                .borrow_mut()
                .get_mut(&client)
                .map(|s| s.state.upstream.clone());
            if let Some(u) = upstream {
                let _ = u.send(data).await;
            }
            true
        }
        Lookup::Full => false,
        Lookup::New => {
            let rt = slot.rt.load_full();
            let Some(udp) = rt.udp.as_ref() else {
                return true;
            };
            table
                .borrow_mut()
                .set_limits(nanos(udp.session_timeout), udp.max_sessions);
            let pool = udp.pool.clone();
            let key = pool.hash_key.as_ref().and_then(|k| match k {
                HashKey::ClientIp => Some(client_key(client, false)),
                HashKey::ClientIpPort => Some(client_key(client, true)),
                _ => None,
            });
            let picked = pool.pick(key, &[], &mut worker.rng.borrow_mut());
            let Some(i) = picked else {
                if let Some(more) = slot.refused_log.allow() {
                    tracing::warn!(listener = %rt.name, client = %client, pool = %pool.name, more_dropped = more, "udp datagram dropped: no usable endpoint");
                }
                return true;
            };
            let ep = &pool.endpoints[i];
            let upstream = match open_upstream(ep.addr).await {
                Ok(u) => Rc::new(u),
                Err(e) => {
                    tracing::warn!(listener = %rt.name, endpoint = %ep.label, error = %e, "udp upstream socket failed");
                    return true;
                }
            };
            let _ = upstream.send(data).await;
            let reply_task = tokio::task::spawn_local(replies(
                upstream.clone(),
                socket.clone(),
                client,
                table.clone(),
            ));
            let flow = Flow {
                upstream,
                pool: pool.clone(),
                reply_task,
                _inflight: InFlight::start(&ep.state),
            };
            if rt.access_log {
                tracing::info!(target: "access", listener = %rt.name, client = %client, pool = %pool.name, endpoint = %ep.label, "udp flow");
            }
            drop(table.borrow_mut().insert(client, i, flow, now));
            true
        }
    }
}

/// A connected socket to the endpoint, from an ephemeral port.
async fn open_upstream(endpoint: SocketAddr) -> std::io::Result<UdpSocket> {
    let local = match endpoint.ip() {
        IpAddr::V4(_) => SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
        IpAddr::V6(_) => SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)),
    };
    let s = UdpSocket::bind(local).await?;
    s.connect(endpoint).await?;
    Ok(s)
}

/// Relays the endpoint's replies to the client, from the listener's address.
async fn replies(
    upstream: Rc<UdpSocket>,
    listener: Rc<UdpSocket>,
    client: SocketAddr,
    table: Table,
) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let n = match upstream.recv(&mut buf).await {
            Ok(n) => n,
            // ICMP port unreachable and the like: keep the flow, the next
            // datagram may find the endpoint back.
            Err(_) => continue,
        };
        let _ = listener.send_to(&buf[..n], client).await;
        table.borrow_mut().touch(&client, now_ns());
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl SessionTable<Flow> {
    /// Removes flows whose endpoint's drain deadline has passed.
    fn remove_draining(
        &mut self,
        now: u64,
    ) -> Vec<(SocketAddr, super::udp_sessions::Session<Flow>)> {
        self.remove_where(|s| drain_over(s, now))
    }
}

/// Whether a flow's endpoint left the configuration and its drain time is over.
fn drain_over(s: &super::udp_sessions::Session<Flow>, now: u64) -> bool {
    s.state
        .pool
        .endpoints
        .get(s.endpoint)
        .and_then(|e| e.state.drain_deadline())
        .is_some_and(|d| now >= d)
}
