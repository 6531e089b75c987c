//! Idle keep-alive HTTP/1.1 connections held without a task.
//!
//! A parked connection used to keep its task (the connection future, about
//! 1.5 KiB, sized by its largest state), its connection state and a tokio
//! registration (256 bytes: tokio aligns it to 128) while it waited for
//! the client's next request: about 2.4 KiB per idle client, against
//! HAProxy's and NGINX's well under 1 KiB. Here, a connection idle for
//! `PARK_AFTER` gives all of that back and leaves one [`Entry`] (the
//! socket, the client's address, its listener slot and admission and its
//! idle deadline, under 100 bytes) in its worker's [`Parked`] set, which
//! watches every parked socket with one epoll instance of its own
//! (`EPOLLONESHOT`) from one task. When the client sends again, the socket
//! is taken out and served by a fresh task, exactly like a newly accepted
//! connection whose request is already there (`net::lazy`: read at once,
//! registered with tokio only if it has to wait), under the listener's
//! configuration of that moment (a reload leaves parked connections be).
//! Idle timeouts and shutdown close parked sockets from the same task.

use std::cell::{Cell, RefCell};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::io::unix::AsyncFd;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::runtime::{Admitted, ListenerSlot};
use crate::worker::WorkerCtx;

/// Events taken per `epoll_wait`.
const BATCH: usize = 64;

/// One parked connection.
pub struct Entry {
    pub stream: std::net::TcpStream,
    /// The client (from the PROXY header when the listener takes one).
    pub peer: SocketAddr,
    pub slot: Arc<ListenerSlot>,
    pub admitted: Admitted,
    /// When the idle timeout (or `max_connection_duration`) closes it.
    pub deadline: Instant,
    /// When `max_connection_duration` is up, carried to the connection's
    /// next task.
    pub expires: Option<Instant>,
}

/// A worker's parked connections.
#[derive(Default)]
pub struct Parked {
    inner: RefCell<Inner>,
    /// Woken when a deadline earlier than the armed one arrives.
    rearm: Notify,
    /// The deadline the task's timer is set to.
    armed: Cell<Option<Instant>>,
    /// The epoll instance and its task exist (made at the first park).
    started: Cell<bool>,
}

#[derive(Default)]
struct Inner {
    /// `None` until the first park, or when the epoll instance could not
    /// be made (then nothing is parked here).
    epoll: Option<Rc<AsyncFd<OwnedFd>>>,
    /// Indexed by descriptor.
    entries: Vec<Option<(Entry, u32)>>,
    /// Idle deadlines; an item whose generation no longer matches its
    /// descriptor's entry is stale (the connection left or was replaced).
    deadlines: BinaryHeap<Reverse<(Instant, RawFd, u32)>>,
    generation: u32,
    count: usize,
}

impl Parked {
    /// Connections parked now.
    pub fn len(&self) -> usize {
        self.inner.borrow().count
    }

    /// Whether no connection is parked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Parks `entry` on `worker`'s set; `Err` gives it back when the set
/// cannot take it (no epoll instance, or `epoll_ctl` failed), for the
/// caller to keep waiting in its own task.
pub fn park(worker: &Rc<WorkerCtx>, entry: Entry) -> Result<(), Box<Entry>> {
    let p = &worker.parked;
    if !p.started.replace(true) {
        match epoll_instance() {
            Ok(fd) => {
                p.inner.borrow_mut().epoll = Some(Rc::new(fd));
                tokio::task::spawn_local(run(worker.clone()));
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot make an epoll instance for idle connections; they keep their tasks")
            }
        }
    }
    let mut inner = p.inner.borrow_mut();
    let Some(epoll) = inner.epoll.clone() else {
        return Err(Box::new(entry));
    };
    let fd = entry.stream.as_raw_fd();
    let Ok(slot) = usize::try_from(fd) else {
        return Err(Box::new(entry));
    };
    let mut ev = libc::epoll_event {
        events: (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLONESHOT) as u32,
        u64: slot as u64,
    };
    // SAFETY: both descriptors are open; `ev` is a valid epoll_event.
    if unsafe { libc::epoll_ctl(epoll.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut ev) } != 0 {
        tracing::debug!(error = %io::Error::last_os_error(), "cannot park an idle connection");
        return Err(Box::new(entry));
    }
    if inner.entries.len() <= slot {
        inner.entries.resize_with(slot + 1, || None);
    }
    inner.generation = inner.generation.wrapping_add(1);
    let generation = inner.generation;
    let deadline = entry.deadline;
    inner.deadlines.push(Reverse((deadline, fd, generation)));
    entry.slot.parked.fetch_add(1, Ordering::Relaxed);
    inner.entries[slot] = Some((entry, generation));
    inner.count += 1;
    // Connections that park and wake often leave stale items behind until
    // their deadlines pass: past twice the live ones, rebuild.
    if inner.deadlines.len() > 2 * inner.count + 1024 {
        let live: BinaryHeap<_> = inner
            .entries
            .iter()
            .enumerate()
            .filter_map(|(i, e)| {
                let (e, g) = e.as_ref()?;
                Some(Reverse((e.deadline, i32::try_from(i).ok()?, *g)))
            })
            .collect();
        inner.deadlines = live;
    }
    drop(inner);
    if p.armed.get().is_none_or(|armed| deadline < armed) {
        p.rearm.notify_one();
    }
    Ok(())
}

fn epoll_instance() -> io::Result<AsyncFd<OwnedFd>> {
    // SAFETY: epoll_create1 returns a new descriptor or -1.
    let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just made and is owned by nobody else.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: the AsyncFd owns the epoll descriptor; it stays open and the
    // same until the AsyncFd is dropped.
    unsafe { AsyncFd::register_with_interest(owned, tokio::io::Interest::READABLE) }
        .map_err(|e| e.into_parts().1)
}

/// The worker's task watching its parked connections.
async fn run(worker: Rc<WorkerCtx>) {
    let p = &worker.parked;
    let Some(epoll) = p.inner.borrow().epoll.clone() else {
        return;
    };
    let closing = worker.closing();
    tokio::pin!(closing);
    let far = || Instant::now() + std::time::Duration::from_secs(3600);
    let timer = tokio::time::sleep_until(far());
    tokio::pin!(timer);
    loop {
        let next = p
            .inner
            .borrow()
            .deadlines
            .peek()
            .map(|Reverse((d, _, _))| *d);
        p.armed.set(next);
        timer.as_mut().reset(next.unwrap_or_else(far));
        tokio::select! {
            biased;
            ready = epoll.readable() => {
                let Ok(mut guard) = ready else {
                    // The event loop lost the epoll instance: nothing parked
                    // could wake. Close what is parked; later idle
                    // connections wait in their own tasks.
                    tracing::warn!("the parked set's epoll instance failed; closing parked connections");
                    abandon(p);
                    return;
                };
                let woken = take_ready(p, epoll.as_raw_fd());
                if woken.is_empty() {
                    guard.clear_ready();
                }
                for e in woken {
                    resume(e, &worker);
                }
            }
            _ = timer.as_mut() => expire(p, Instant::now()),
            _ = closing.as_mut() => {
                closing.set(worker.closing());
                close_stale(p, Instant::now());
            }
            _ = p.rearm.notified() => {}
        }
        if p.is_empty() {
            // Shutdown waits for parked connections too.
            worker.wake_if_idle();
        }
    }
}

/// Takes the entries whose sockets became readable (or closed).
fn take_ready(p: &Parked, epfd: RawFd) -> Vec<Entry> {
    let mut events = [libc::epoll_event { events: 0, u64: 0 }; BATCH];
    // SAFETY: `events` holds BATCH entries; a zero timeout never blocks.
    let n = unsafe { libc::epoll_wait(epfd, events.as_mut_ptr(), BATCH as i32, 0) };
    let Ok(n) = usize::try_from(n) else {
        return Vec::new();
    };
    let mut inner = p.inner.borrow_mut();
    let mut out = Vec::with_capacity(n);
    for ev in &events[..n] {
        let slot = ev.u64 as usize;
        if let Some((e, _)) = inner.entries.get_mut(slot).and_then(Option::take) {
            inner.count -= 1;
            e.slot.parked.fetch_sub(1, Ordering::Relaxed);
            // SAFETY: both descriptors are open. Removed so that parking
            // the socket again can add it.
            unsafe {
                libc::epoll_ctl(
                    epfd,
                    libc::EPOLL_CTL_DEL,
                    e.stream.as_raw_fd(),
                    std::ptr::null_mut(),
                )
            };
            out.push(e);
        }
    }
    out
}

/// The client sent again (or closed): serve the connection in a new task.
/// A stale one too: its request is served with `Connection: close`.
fn resume(e: Entry, worker: &Rc<WorkerCtx>) {
    // Counted open from now, not from the task's first poll: shutdown must
    // not see it neither parked nor open in between.
    let open = worker.track();
    tokio::task::spawn_local(tokio::task::coop::unconstrained(async move {
        super::conn::serve_resumed(e, open.worker()).await;
    }));
}

/// Closes the connections whose idle deadline passed.
fn expire(p: &Parked, now: Instant) {
    let mut inner = p.inner.borrow_mut();
    while let Some(&Reverse((deadline, fd, generation))) = inner.deadlines.peek() {
        if deadline > now {
            break;
        }
        inner.deadlines.pop();
        let slot = fd as usize;
        if matches!(inner.entries.get(slot), Some(Some((_, g))) if *g == generation) {
            // Closing the socket takes it out of the epoll set.
            if let Some((e, _)) = inner.entries[slot].take() {
                e.slot.parked.fetch_sub(1, Ordering::Relaxed);
            }
            inner.count -= 1;
            tracing::debug!("closing idle client connection");
        }
    }
}

/// Closes every parked connection and stops taking new ones.
fn abandon(p: &Parked) {
    let mut inner = p.inner.borrow_mut();
    inner.epoll = None;
    for (e, _) in inner.entries.iter_mut().filter_map(Option::take) {
        e.slot.parked.fetch_sub(1, Ordering::Relaxed);
    }
    inner.count = 0;
    inner.deadlines.clear();
}

/// After a reload or at shutdown. A parked connection holds no listener
/// state: when it wakes, its new task takes the listener's current one, so
/// a reload that kept the listener (plain HTTP) keeps it parked. Those of a
/// listener that stopped (removed, shutdown) or now terminates TLS close
/// within [`CLOSE_GRACE`](super::conn::CLOSE_GRACE); a request that
/// arrives first is served, with `Connection: close`.
fn close_stale(p: &Parked, now: Instant) {
    let grace = now + super::conn::CLOSE_GRACE;
    let inner = &mut *p.inner.borrow_mut();
    for (fd, slot) in inner.entries.iter_mut().enumerate() {
        if let Some((e, generation)) = slot
            && e.deadline > grace
            && (e.slot.stopped() || e.slot.rt.load().tls.is_some())
        {
            e.deadline = grace;
            // The earlier item stays in the heap and is skipped: `expire`
            // closes at the first item of the entry's generation.
            let fd = RawFd::try_from(fd).unwrap_or(RawFd::MAX);
            inner.deadlines.push(Reverse((grace, fd, *generation)));
        }
    }
}
