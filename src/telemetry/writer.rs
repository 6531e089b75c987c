//! The log output, written by a thread of its own so a slow stdout (a
//! full pipe, a stalled journald or terminal) never blocks a worker: each
//! log line, access lines included, is handed to a bounded queue and the
//! worker goes on. When the queue is full the line is dropped and counted,
//! as HAProxy's UDP syslog drops; the writer thread reports the count in
//! the output itself once it can write again. The thread writes every line
//! waiting in one `write`, so a busy log costs fewer system calls than
//! one write per line.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::time::{Duration, Instant};

/// Lines queued at most; beyond, lines are dropped.
pub const QUEUE_LINES: usize = 16_384;

/// Bytes gathered into one write at most.
const BATCH_BYTES: usize = 64 << 10;

/// How long [`LogGuard`]'s drop waits for queued lines to be written.
const FLUSH_WAIT: Duration = Duration::from_secs(1);

enum Msg {
    Line(Vec<u8>),
    /// Write what came before, then answer.
    Flush(SyncSender<()>),
}

/// The `MakeWriter` side: cheap to clone, one per log event.
#[derive(Clone)]
pub struct LogWriter {
    tx: SyncSender<Msg>,
    dropped: Arc<AtomicU64>,
}

impl Write for LogWriter {
    /// Queues `buf` (the fmt layer writes each event in one call) or drops
    /// it when the queue is full; never blocks, never fails.
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self.tx.try_send(Msg::Line(buf.to_vec())) {
            Ok(()) | Err(TrySendError::Disconnected(_)) => {}
            Err(TrySendError::Full(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Flushes the queue when dropped (waiting at most a second: the output
/// may be stalled); keep it until the process ends.
pub struct LogGuard {
    tx: Option<SyncSender<Msg>>,
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        let Some(tx) = self.tx.take() else {
            return;
        };
        let (ack_tx, ack) = sync_channel(1);
        let deadline = Instant::now() + FLUSH_WAIT;
        let mut msg = Msg::Flush(ack_tx);
        // The queue may be full: retry until the deadline, then give up.
        loop {
            match tx.try_send(msg) {
                Ok(()) => break,
                Err(TrySendError::Disconnected(_)) => return,
                Err(TrySendError::Full(m)) if Instant::now() < deadline => {
                    msg = m;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(TrySendError::Full(_)) => return,
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let _ = ack.recv_timeout(left);
    }
}

/// Starts the writer thread over `out`: the writer for the subscriber, and
/// the guard that flushes at exit. `None` when the thread cannot start
/// (then log straight to `out`).
pub fn spawn<W: Write + Send + 'static>(out: W) -> Option<(LogWriter, LogGuard)> {
    let (tx, rx) = sync_channel(QUEUE_LINES);
    let dropped = Arc::new(AtomicU64::new(0));
    let counter = dropped.clone();
    std::thread::Builder::new()
        .name("switchyard-log".into())
        .spawn(move || run(&rx, out, &counter))
        .ok()?;
    Some((
        LogWriter {
            tx: tx.clone(),
            dropped,
        },
        LogGuard { tx: Some(tx) },
    ))
}

/// The writer thread: gathers the lines waiting, writes them at once,
/// answers flushes, and reports dropped lines.
fn run<W: Write>(rx: &Receiver<Msg>, mut out: W, dropped: &AtomicU64) {
    let mut buf = Vec::with_capacity(BATCH_BYTES);
    let mut acks = Vec::new();
    let mut reported = 0;
    loop {
        // Block for the first message, then take what else is waiting.
        let first = match rx.recv_timeout(Duration::from_secs(1)) {
            Ok(m) => Some(m),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        let mut next = first;
        while let Some(msg) = next {
            match msg {
                Msg::Line(line) => buf.extend_from_slice(&line),
                Msg::Flush(ack) => acks.push(ack),
            }
            next = if buf.len() < BATCH_BYTES {
                rx.try_recv().ok()
            } else {
                None
            };
        }
        let lost = dropped.load(Ordering::Relaxed);
        if lost > reported {
            let _ = writeln!(
                buf,
                "switchyard: {} log lines dropped: the log output did not keep up",
                lost - reported
            );
            reported = lost;
        }
        if !buf.is_empty() {
            // A failed write (closed pipe) loses these lines; the next
            // batch tries again.
            let _ = out.write_all(&buf);
            let _ = out.flush();
            buf.clear();
        }
        for ack in acks.drain(..) {
            let _ = ack.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// An output that blocks every write until released, and keeps what
    /// was written.
    #[derive(Clone, Default)]
    struct Gated {
        open: Arc<(Mutex<bool>, std::sync::Condvar)>,
        written: Arc<Mutex<Vec<u8>>>,
    }

    impl Gated {
        fn release(&self) {
            let (open, cv) = &*self.open;
            *open.lock().unwrap() = true;
            cv.notify_all();
        }

        fn text(&self) -> String {
            String::from_utf8(self.written.lock().unwrap().clone()).unwrap()
        }
    }

    impl Write for Gated {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let (open, cv) = &*self.open;
            let mut o = open.lock().unwrap();
            while !*o {
                o = cv.wait(o).unwrap();
            }
            self.written.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_are_written_in_order_and_flushed_by_the_guard() {
        let out = Gated::default();
        out.release();
        let (mut w, guard) = spawn(out.clone()).unwrap();
        for i in 0..1000 {
            w.write_all(format!("line {i}\n").as_bytes()).unwrap();
        }
        drop(guard);
        let want: String = (0..1000).map(|i| format!("line {i}\n")).collect();
        assert_eq!(out.text(), want);
    }

    #[test]
    fn a_stalled_output_never_blocks_the_writer_and_drops_are_reported() {
        let out = Gated::default();
        let (mut w, guard) = spawn(out.clone()).unwrap();
        // The thread takes the first batch and blocks writing it; the
        // queue then fills and the rest is dropped, without blocking here.
        let n = 3 * QUEUE_LINES;
        for i in 0..n {
            w.write_all(format!("line {i}\n").as_bytes()).unwrap();
        }
        let dropped = w.dropped.load(Ordering::Relaxed);
        assert!(dropped > 0, "nothing dropped with the output stalled");
        assert!(dropped < n as u64);
        out.release();
        drop(guard);
        let text = out.text();
        let written = text.lines().filter(|l| l.starts_with("line ")).count() as u64;
        assert_eq!(written + dropped, n as u64, "every line written or counted");
        // Drops that happen while the thread gathers a batch are reported
        // with it, later ones with a later batch: the reports add up.
        let reported: u64 = text
            .lines()
            .filter_map(|l| l.strip_prefix("switchyard: "))
            .filter_map(|l| l.strip_suffix(" log lines dropped: the log output did not keep up"))
            .map(|n| n.parse::<u64>().unwrap())
            .sum();
        assert_eq!(reported, dropped, "drops reported:\n{text}");
    }
}
