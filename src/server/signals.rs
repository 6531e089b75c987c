//! Running until told to stop: SIGHUP reloads, SIGTERM/SIGINT shut down.

use std::path::PathBuf;

use tokio::signal::unix::{Signal, SignalKind, signal};

use super::{Server, ServerError};
use crate::config;

/// The control loop's runtime and signal handlers. Install them *before*
/// binding anything: a signal that arrives once the proxy is listening must
/// never hit the default action (which would kill the process without a
/// graceful drain).
pub struct Signals {
    control: tokio::runtime::Runtime,
    hup: Signal,
    term: Signal,
    int: Signal,
}

impl Signals {
    pub fn install() -> Result<Signals, ServerError> {
        let control = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(ServerError::Control)?;
        let _ctx = control.enter();
        let hup = signal(SignalKind::hangup()).map_err(ServerError::Control)?;
        let term = signal(SignalKind::terminate()).map_err(ServerError::Control)?;
        let int = signal(SignalKind::interrupt()).map_err(ServerError::Control)?;
        drop(_ctx);
        Ok(Signals {
            control,
            hup,
            term,
            int,
        })
    }

    /// Serves until SIGTERM or SIGINT, then shuts down gracefully within
    /// `global.shutdown_timeout`. With a `source` file, SIGHUP re-reads it:
    /// a valid file is applied, an invalid one is reported (every error) and
    /// the running configuration stays.
    pub fn run(self, mut server: Server, source: Option<PathBuf>) -> Result<(), ServerError> {
        let Signals {
            control,
            mut hup,
            mut term,
            mut int,
        } = self;
        control.block_on(async {
            // Certificate files are polled: cheap (a stat per file), and it
            // works wherever they live (no inotify on some mounts).
            let mut certs = tokio::time::interval(CERT_POLL);
            certs.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = certs.tick() => server.check_certificates(),
                    _ = hup.recv() => reload(&mut server, source.as_ref()),
                    _ = term.recv() => break,
                    _ = int.recv() => break,
                }
            }
        });
        let timeout = server.runtime().global().shutdown_timeout;
        tracing::info!(
            ?timeout,
            "shutting down: no new connections, finishing open requests (a second SIGTERM or \
             SIGINT stops at once)"
        );
        // The drain runs on a thread of its own so that a second signal is
        // still heard: an operator who does not want to wait gets an
        // immediate stop, as from NGINX's and HAProxy's hard stop.
        let (done_tx, done) = tokio::sync::oneshot::channel();
        let drain = std::thread::Builder::new()
            .name("sy-shutdown".into())
            .spawn(move || {
                server.shutdown(timeout);
                let _ = done_tx.send(());
            });
        if drain.is_err() {
            tracing::warn!("cannot start the shutdown thread: stopping without draining");
        }
        control.block_on(async {
            tokio::select! {
                _ = done => tracing::info!("stopped"),
                _ = term.recv() => tracing::warn!("second signal: stopping now, open connections are cut"),
                _ = int.recv() => tracing::warn!("second signal: stopping now, open connections are cut"),
            }
        });
        Ok(())
    }
}

/// How often certificate files are checked for changes.
const CERT_POLL: std::time::Duration = std::time::Duration::from_secs(2);

fn reload(server: &mut Server, source: Option<&PathBuf>) {
    let Some(path) = source else {
        tracing::warn!("SIGHUP ignored: this configuration was not read from a file");
        return;
    };
    match config::load_file(path) {
        Ok(loaded) => {
            for w in &loaded.warnings {
                tracing::warn!("{}", w.render());
            }
            if let Err(e) = server.reload(loaded.config) {
                tracing::error!(error = %e, "reload failed; the running configuration stays");
            }
        }
        Err(e) => tracing::error!("reload refused; the running configuration stays:\n{e}"),
    }
}
