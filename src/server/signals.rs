//! Running until told to stop: SIGHUP (or `reload` on the admin socket)
//! reloads, SIGTERM/SIGINT shut down.

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
        if let Ok(mut st) = server.control_state.status.lock() {
            st.source.clone_from(&source);
        }
        let mut asks = server.reload_requests.take();
        control.block_on(async {
            // Certificate files are polled: cheap (a stat per file), and it
            // works wherever they live (no inotify on some mounts).
            let mut certs = tokio::time::interval(CERT_POLL);
            certs.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                let asked = async {
                    match &mut asks {
                        Some(rx) => rx.recv().await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    _ = certs.tick() => server.check_certificates(),
                    _ = hup.recv() => {
                        let _ = reload(&mut server, source.as_ref(), "SIGHUP");
                    }
                    Some(reply) = asked => {
                        let _ = reply.send(reload(&mut server, source.as_ref(), "admin socket"));
                    }
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

/// Re-reads `source` and applies it (asked for by `by`): the outcome is
/// logged, counted for `status`, and returned for the admin socket's
/// `reload`: what changed and any warnings, or every error.
fn reload(server: &mut Server, source: Option<&PathBuf>, by: &str) -> Result<String, String> {
    let outcome = reload_file(server, source, by);
    if let Ok(mut st) = server.control_state.status.lock() {
        st.record(&outcome);
    }
    outcome
}

fn reload_file(server: &mut Server, source: Option<&PathBuf>, by: &str) -> Result<String, String> {
    let Some(path) = source else {
        tracing::warn!("{by}: reload ignored: this configuration was not read from a file");
        return Err(
            "this configuration was not read from a file (the demo): nothing to reload".into(),
        );
    };
    match config::load_file(path) {
        Ok(loaded) => {
            for w in &loaded.warnings {
                tracing::warn!("{}", w.render());
            }
            match server.reload(loaded.config) {
                Ok(summary) => {
                    let mut text = format!(
                        "configuration reloaded from {}: listeners added {:?}, removed {:?}, kept {:?}\n",
                        path.display(),
                        summary.added,
                        summary.removed,
                        summary.kept
                    );
                    for line in &summary.restart_needed {
                        text.push_str("needs a restart: ");
                        text.push_str(line);
                        text.push('\n');
                    }
                    if !loaded.warnings.is_empty() {
                        text.push_str(&config::render_all(&loaded.warnings));
                        text.push('\n');
                    }
                    Ok(text)
                }
                Err(e) => {
                    tracing::error!(error = %e, "reload failed; the running configuration stays");
                    Err(format!(
                        "reload failed; the running configuration stays: {e}"
                    ))
                }
            }
        }
        Err(e) => {
            tracing::error!("reload refused; the running configuration stays:\n{e}");
            Err(format!(
                "reload refused; the running configuration stays:\n{e}"
            ))
        }
    }
}
