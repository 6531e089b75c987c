//! The `switchyard` command: run, check, demo, decap. Thin: everything lives in the library.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use switchyard::{config, decap, demo, server, telemetry};

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
    /// Inspect pools and take endpoints in and out of service (needs [global] control_socket).
    Pool {
        /// The admin socket ([global] control_socket).
        #[arg(
            short,
            long,
            value_name = "PATH",
            default_value = "/run/switchyard/control.sock",
            global = true
        )]
        socket: PathBuf,
        #[command(subcommand)]
        action: PoolAction,
    },
    /// Reload the running process's config file (as SIGHUP does) and print the outcome: what changed, or every error (exit 1; the running configuration stays).
    Reload(AdminSocket),
    /// Show the running process: version, pid, config file, uptime, listeners, reloads.
    Status(AdminSocket),
    /// Inspect and change the running packet engine (like ipvsadm).
    Vip {
        /// The engine's control socket ([engine] control_socket).
        #[arg(short, long, value_name = "PATH", default_value = switchyard::config::DEFAULT_CONTROL_SOCKET, global = true)]
        socket: PathBuf,
        #[command(subcommand)]
        action: VipAction,
    },
    /// Backend-side tunnel endpoint for the IP-in-IP and GRE modes: unwraps tunnel packets into a TUN interface (runs until SIGINT/SIGTERM; see docs/decap.md).
    Decap {
        /// Name of the TUN interface to create.
        #[arg(long, value_name = "NAME", default_value = "sydecap0")]
        tun: String,
        /// Tunnel protocols to accept.
        #[arg(long, value_enum, default_value_t = DecapProtocol::Both)]
        protocol: DecapProtocol,
        /// Set net.ipv4.conf.all.rp_filter=0 if it is not (otherwise only warn).
        #[arg(long)]
        fix_rp_filter: bool,
        /// Log the counters every SECS seconds when they changed (0: only at exit).
        #[arg(long, value_name = "SECS", default_value_t = 60)]
        stats_interval: u64,
    },
}

/// The admin socket argument of `reload` and `status`.
#[derive(clap::Args)]
struct AdminSocket {
    /// The admin socket ([global] control_socket).
    #[arg(
        short,
        long,
        value_name = "PATH",
        default_value = "/run/switchyard/control.sock"
    )]
    socket: PathBuf,
}

/// `--protocol` of `switchyard decap`.
#[derive(Clone, Copy, clap::ValueEnum)]
enum DecapProtocol {
    /// IP-in-IP (IP protocols 4 and 41).
    Ipip,
    /// GRE (IP protocol 47).
    Gre,
    /// Both.
    Both,
}

#[derive(Subcommand)]
enum PoolAction {
    /// List pools and endpoints: weight, state (up, down, disabled), counters.
    List,
    /// Take an endpoint out of service: no new traffic; live connections drain.
    Disable {
        pool: String,
        /// The endpoint as written in the config (host:port) or as resolved (IP:port).
        endpoint: String,
    },
    /// Put a disabled endpoint back in service.
    Enable { pool: String, endpoint: String },
}

#[derive(Subcommand)]
enum VipAction {
    /// List VIPs and their backends (weights, state, active flows).
    List {
        /// Also print packet and byte counters, and drops.
        #[arg(long)]
        stats: bool,
    },
    /// Add a backend to a VIP (or change the weight of one it has).
    Add {
        /// The VIP's name.
        vip: String,
        /// The backend's IP address.
        address: std::net::IpAddr,
        /// NAT only: the backend's port, when it differs from the VIP's.
        #[arg(long)]
        port: Option<u16>,
        #[arg(long, default_value_t = 1)]
        weight: u32,
    },
    /// Remove a backend: its flows move to the other backends.
    Remove {
        vip: String,
        address: std::net::IpAddr,
        #[arg(long)]
        port: Option<u16>,
    },
    /// Set a backend's weight; 0 drains it (no new flows, existing flows stay).
    Weight {
        vip: String,
        address: std::net::IpAddr,
        weight: u32,
        #[arg(long)]
        port: Option<u16>,
    },
}

fn main() -> ExitCode {
    switchyard::alloc::configure();
    let cli = Cli::parse();
    match cli.command {
        Command::Check { config } => check(&config),
        Command::Run { config } => report(run(config)),
        Command::Demo {
            listen,
            print_config,
        } => report(run_demo(listen, print_config)),
        Command::Vip { socket, action } => report(vip(&socket, action)),
        Command::Pool { socket, action } => report(pool(&socket, action)),
        Command::Reload(a) => report(admin(&a.socket, "reload")),
        Command::Status(a) => report(admin(&a.socket, "status")),
        Command::Decap {
            tun,
            protocol,
            fix_rp_filter,
            stats_interval,
        } => report(run_decap(decap::DecapOptions {
            tun_name: tun,
            protocols: match protocol {
                DecapProtocol::Ipip => decap::Protocols::Ipip,
                DecapProtocol::Gre => decap::Protocols::Gre,
                DecapProtocol::Both => decap::Protocols::Both,
            },
            fix_rp_filter,
            stats_interval: (stats_interval > 0).then(|| Duration::from_secs(stats_interval)),
        })),
    }
}

fn pool(socket: &std::path::Path, action: PoolAction) -> anyhow::Result<()> {
    let line = match action {
        PoolAction::List => "pool list".to_string(),
        PoolAction::Disable { pool, endpoint } => format!("pool disable {pool} {endpoint}"),
        PoolAction::Enable { pool, endpoint } => format!("pool enable {pool} {endpoint}"),
    };
    admin(socket, &line)
}

/// Sends one request line to the admin socket and prints the answer.
fn admin(socket: &std::path::Path, line: &str) -> anyhow::Result<()> {
    let answer = switchyard::packet::engine::control::request(socket, line)?;
    print!("{answer}");
    Ok(())
}

fn vip(socket: &std::path::Path, action: VipAction) -> anyhow::Result<()> {
    let port = |p: Option<u16>| p.map_or("-".to_string(), |p| p.to_string());
    let line = match action {
        VipAction::List { stats: false } => "list".to_string(),
        VipAction::List { stats: true } => "list stats".to_string(),
        VipAction::Add {
            vip,
            address,
            port: p,
            weight,
        } => format!("add {vip} {address} {} {weight}", port(p)),
        VipAction::Remove {
            vip,
            address,
            port: p,
        } => format!("remove {vip} {address} {}", port(p)),
        VipAction::Weight {
            vip,
            address,
            weight,
            port: p,
        } => format!("weight {vip} {address} {} {weight}", port(p)),
    };
    admin(socket, &line)
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
                eprintln!("{}", config::render_all(&loaded.warnings));
            }
            println!("{}: configuration is valid", path.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

fn run(path: PathBuf) -> anyhow::Result<()> {
    let loaded = match config::load_file(&path) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{e}");
            anyhow::bail!("{}: configuration refused", path.display());
        }
    };
    let _log = telemetry::init(&loaded.config.global.log_level);
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
        // The addresses are those this run's backends got, and they stop
        // with it: say so, or the printed file looks ready to run.
        println!(
            "# The endpoint addresses below are ephemeral ports the demo backends had\n\
             # only while this command ran: replace them with your backends'."
        );
        print!("{}", demo::config_text(addrs, listen));
        return Ok(());
    }
    let loaded =
        demo::load(addrs, listen).map_err(|e| anyhow::anyhow!("embedded demo config: {e}"))?;
    let _log = telemetry::init(&loaded.config.global.log_level);
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

/// `switchyard decap`: the signal handlers are installed before the TUN
/// interface appears, so a SIGTERM sent once it is up always stops cleanly
/// (and logs the counters).
fn run_decap(opts: decap::DecapOptions) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let _log = telemetry::init("info");
    let control = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the signal handler")?;
    let (mut term, mut int) = {
        let _ctx = control.enter();
        (
            signal(SignalKind::terminate()).context("cannot catch SIGTERM")?,
            signal(SignalKind::interrupt()).context("cannot catch SIGINT")?,
        )
    };
    let mut decap = decap::Decap::open(opts)?;
    let stop = decap.stop_handle();
    std::thread::Builder::new()
        .name("decap-signals".into())
        .spawn(move || {
            control.block_on(async {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            });
            stop.stop();
        })
        .context("cannot start the signal thread")?;
    decap.run()?;
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
