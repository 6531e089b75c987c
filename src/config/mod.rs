//! Configuration: external TOML schema → validation with spans → internal model.
//!
//! Loading runs in two stages (Sōzu's `FileConfig → Config`):
//!
//! 1. `parse`: TOML text → [`file::FileConfig`], the external schema, with
//!    every syntax error, unknown key and wrongly typed value reported;
//! 2. `validate`: `FileConfig` → [`Config`], the checked internal model,
//!    with every semantic error (bad address, unknown pool, invalid regex,
//!    out-of-range limit, ...) reported.
//!
//! Nothing stops at the first problem: one run reports every error (and
//! warning) as a [`Diagnostic`] with `file:line:col`, what is wrong and how
//! to fix it. Loading never panics, whatever the input.

pub mod file;
pub mod model;
pub mod model_vip;
pub mod vip_file;

mod diagnostic;
mod duration;
mod key_spans;
mod l4;
mod parse;
mod pool;
mod route;
mod suggest;
mod syntax;
mod tls;
mod validate;
mod values;
mod vip;

#[cfg(test)]
mod tests;

use std::io;
use std::path::Path;

pub use diagnostic::{Diagnostic, Severity, render_all, summary};
pub use duration::parse_duration;
pub use model::*;
pub use model_vip::*;
pub use validate::Resolver;

use diagnostic::Reporter;

/// A configuration that loaded, with the warnings found on the way.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    /// Problems that do not prevent loading (unused pool, unreachable
    /// route, ...), in file order.
    pub warnings: Vec<Diagnostic>,
}

/// A configuration that did not load: every error and warning found, in
/// file order. `Display` renders them all, then a summary line.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}", render_all(&self.diagnostics))]
pub struct ConfigError {
    pub diagnostics: Vec<Diagnostic>,
}

impl ConfigError {
    /// The errors only (not the warnings).
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| d.is_error())
    }
}

/// Reads and loads the config file at `path`; endpoint host names are
/// resolved with the system resolver.
pub fn load_file(path: &Path) -> Result<Loaded, ConfigError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        let help = match e.kind() {
            io::ErrorKind::NotFound => {
                let cwd = std::env::current_dir()
                    .map(|d| format!(" (relative paths start at {})", d.display()))
                    .unwrap_or_default();
                format!("check the path{cwd}")
            }
            io::ErrorKind::PermissionDenied => "check the file's permissions".to_string(),
            io::ErrorKind::InvalidData => "the config file must be UTF-8 text".to_string(),
            _ => "check that the path names a readable file".to_string(),
        };
        ConfigError {
            diagnostics: vec![Diagnostic::without_position(
                Severity::Error,
                &name,
                format!("cannot read config file: {e}"),
                Some(help),
            )],
        }
    })?;
    let mut loaded = load_str(&name, &text)?;
    loaded.config.source = Some(path.to_path_buf());
    Ok(loaded)
}

/// Loads a config from `text`; `file_name` is used in diagnostics.
/// Endpoint host names are resolved with the system resolver.
pub fn load_str(file_name: &str, text: &str) -> Result<Loaded, ConfigError> {
    load_str_with_resolver(file_name, text, &system_resolve)
}

/// Like [`load_str`], with endpoint host names (`host:port`) resolved by
/// `resolve` (tests and fuzzing use a resolver that needs no DNS).
pub fn load_str_with_resolver(
    file_name: &str,
    text: &str,
    resolve: &Resolver,
) -> Result<Loaded, ConfigError> {
    let mut rep = Reporter::new(file_name, text);
    let parsed = parse::parse(&mut rep);
    let config = validate::validate(&mut rep, &parsed, resolve);
    if parsed.partial {
        rep.note(
            "checks across sections (pools that routes name, required keys, unused pools) were skipped",
            "fix the errors above and run check again",
        );
    }
    let diagnostics = rep.finish();
    match config {
        Some(config) if !diagnostics.iter().any(Diagnostic::is_error) => Ok(Loaded {
            config,
            warnings: diagnostics,
        }),
        _ => Err(ConfigError { diagnostics }),
    }
}

fn system_resolve(host_port: &str) -> io::Result<Vec<std::net::SocketAddr>> {
    use std::net::ToSocketAddrs;
    Ok(host_port.to_socket_addrs()?.collect())
}
