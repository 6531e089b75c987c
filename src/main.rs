//! The `switchyard` command: run, check, demo. Thin: everything lives in the library.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use switchyard::{config, demo, server, telemetry};

#[derive(Parser)]
#[command(
    name = "switchyard",
    version,
    about = "An L4/L7 load balancer",
    arg_required_else_help = true,
    after_help = "New here? Run `switchyard demo` (or `cargo run --release -- demo`) and follow the curl lines it prints."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run with a configuration file (SIGHUP reloads it, SIGTERM/SIGINT stop gracefully).
    Run {
        #[arg(short, long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Validate a configuration file: prints every error with FILE:LINE:COL; exit 1 if invalid.
    Check {
        #[arg(short, long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Run the built-in demo: three demo backends and a listener on 127.0.0.1:8080.
    Demo {
        /// Listen here instead of 127.0.0.1:8080 (port 0 picks a free port).
        #[arg(long, value_name = "ADDR")]
        listen: Option<SocketAddr>,
        /// Print the demo configuration and exit.
        #[arg(long)]
        print_config: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check { config } => check(&config),
        Command::Run { config } => report(run(config)),
        Command::Demo {
            listen,
            print_config,
        } => report(run_demo(listen, print_config)),
    }
}

fn report(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("switchyard: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn check(path: &std::path::Path) -> ExitCode {
    match config::load_file(path) {
        Ok(loaded) => {
            if !loaded.warnings.is_empty() {
                eprint!("{}", config::render_all(&loaded.warnings));
            }
            println!("{}: configuration is valid", path.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprint!("{e}");
            ExitCode::FAILURE
        }
    }
}

fn run(path: PathBuf) -> anyhow::Result<()> {
    let loaded = match config::load_file(&path) {
        Ok(l) => l,
        Err(e) => {
            eprint!("{e}");
            anyhow::bail!("{}: configuration refused", path.display());
        }
    };
    telemetry::init(&loaded.config.global.log_level);
    for w in &loaded.warnings {
        tracing::warn!("{}", w.render());
    }
    raise_fd_limit();
    let signals = server::Signals::install()?;
    let srv = server::Server::start(loaded.config).context("cannot start")?;
    signals.run(srv, Some(path))?;
    Ok(())
}

fn run_demo(listen: Option<SocketAddr>, print_config: bool) -> anyhow::Result<()> {
    let local: SocketAddr = ([127, 0, 0, 1], 0).into();
    let backends = demo::BACKENDS
        .iter()
        .map(|name| demo::Backend::bind(name, local))
        .collect::<Result<Vec<_>, _>>()
        .context("cannot start the demo backends")?;
    let addrs = [
        backends[0].addr()?,
        backends[1].addr()?,
        backends[2].addr()?,
    ];
    if print_config {
        print!("{}", demo::config_text(addrs, listen));
        return Ok(());
    }
    let loaded =
        demo::load(addrs, listen).map_err(|e| anyhow::anyhow!("embedded demo config: {e}"))?;
    telemetry::init(&loaded.config.global.log_level);
    raise_fd_limit();
    std::thread::Builder::new()
        .name("demo-backends".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            match rt {
                Ok(rt) => rt.block_on(async move {
                    let tasks: Vec<_> = backends
                        .into_iter()
                        .map(|b| tokio::spawn(b.serve()))
                        .collect();
                    for t in tasks {
                        let _ = t.await;
                    }
                }),
                Err(e) => eprintln!("switchyard: demo backends cannot start: {e}"),
            }
        })?;
    let signals = server::Signals::install()?;
    let srv = server::Server::start(loaded.config).context("cannot start the demo listener")?;
    let addr = srv.local_addr("demo").context("demo listener missing")?;
    println!("{}", demo::try_lines(addr));
    signals.run(srv, None)?;
    Ok(())
}

/// Lifts the open-files soft limit to the hard limit: every client and
/// upstream connection is a file descriptor.
fn raise_fd_limit() {
    // SAFETY: getrlimit/setrlimit only read/write the struct we pass.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            let _ = libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// mimalloc (see `switchyard::alloc`): per-thread heaps suit thread-per-core
/// workers and the proxy's many short-lived per-request allocations.
#[global_allocator]
static GLOBAL: switchyard::alloc::Mimalloc = switchyard::alloc::Mimalloc;
