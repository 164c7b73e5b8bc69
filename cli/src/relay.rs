//! `tanso relay …`: run a blind relay, and make a node reachable through one.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use clap::{Args, Subcommand};
use node::relay::{RawRelayConfig, Relay, RelayError, RelayHome};

use crate::cmd::ConfigInvalid;

/// `tanso relay …`
#[derive(Debug, Subcommand)]
pub(crate) enum RelayCmd {
    /// Create a relay: config and relay key.
    Init(InitArgs),
    /// Run the relay until SIGINT/SIGTERM.
    Serve(RelayHomeArg),
    /// Print the relay's card (JSON) for nodes to `tanso relay use`.
    Card(RelayHomeArg),
    /// Admit members of a directory (its card from `tanso directory card`).
    TrustDirectory {
        #[command(flatten)]
        home: RelayHomeArg,
        /// The directory's card (JSON).
        card: PathBuf,
    },
    /// Make a node reachable through a relay (takes effect at the next `tanso serve`).
    Use {
        /// The node's home directory.
        #[arg(long, env = "TANSO_HOME", default_value = ".tanso")]
        home: PathBuf,
        /// The node's membership credential (JSON issued by a directory the relay trusts).
        #[arg(long)]
        credential: Option<PathBuf>,
        /// The relay's card (JSON printed by `tanso relay card`).
        card: PathBuf,
    },
}

/// The relay's home.
#[derive(Debug, Args, Clone)]
pub(crate) struct RelayHomeArg {
    /// The relay's home directory.
    #[arg(long)]
    home: PathBuf,
}

/// Arguments of `tanso relay init`.
#[derive(Debug, Args)]
pub(crate) struct InitArgs {
    #[command(flatten)]
    home: RelayHomeArg,
    /// Where nodes and clients connect (ip:port).
    #[arg(long)]
    listen: String,
    /// The relay's name (on its card).
    #[arg(long, default_value = "tanso relay")]
    name: String,
    /// Endpoint to advertise on the card (defaults to the bound listen address).
    #[arg(long)]
    advertise: Option<String>,
    /// Most concurrent relayed sessions to one node.
    #[arg(long)]
    max_sessions_per_node: Option<usize>,
    /// Most bytes per second relayed for one node (0: no limit); over it, copying slows down.
    #[arg(long)]
    max_bytes_per_sec_per_node: Option<u64>,
    /// Most concurrent TCP connections to the relay.
    #[arg(long)]
    max_connections: Option<usize>,
    /// Serve `/metrics`, `/healthz` and `/readyz` over plain HTTP here (ip:port).
    #[arg(long)]
    metrics_listen: Option<String>,
}

fn config_error(e: RelayError) -> anyhow::Error {
    match e {
        RelayError::Config { .. } | RelayError::ConfigParse { .. } => {
            anyhow::Error::new(ConfigInvalid(e.to_string()))
        }
        other => other.into(),
    }
}

/// Runs a `tanso relay` command.
pub(crate) fn run(cmd: RelayCmd) -> Result<ExitCode> {
    match cmd {
        RelayCmd::Init(args) => {
            let mut raw = RawRelayConfig::new(&args.name, &args.listen);
            raw.advertise = args.advertise;
            if let Some(n) = args.max_sessions_per_node {
                raw.max_sessions_per_node = n;
            }
            if let Some(n) = args.max_bytes_per_sec_per_node {
                raw.max_bytes_per_sec_per_node = n;
            }
            if let Some(n) = args.max_connections {
                raw.max_connections = n;
            }
            raw.metrics_listen = args.metrics_listen;
            let home = RelayHome::new(&args.home.home);
            let mut seed = [0u8; 32];
            getrandom::fill(&mut seed)
                .map_err(|e| anyhow::anyhow!("reading OS randomness: {e}"))?;
            home.init(&raw, &seed).map_err(config_error)?;
            println!(
                "initialised relay {} in {}",
                raw.name,
                args.home.home.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        RelayCmd::Serve(args) => {
            let home = RelayHome::new(&args.home);
            // Validate before binding.
            let config = home.load_config().map_err(config_error)?;
            crate::cmd::init_logging(config.log_json, "info");
            let tap = std::env::var_os(node::relay::server::TAP_ENV).map(PathBuf::from);
            let relay = Relay::open(&home, tap)?;
            let rt = crate::cmd::runtime()?;
            rt.block_on(async move {
                // Handlers first: a signal after the bound address is announced drains.
                let shutdown = node::shutdown::signal();
                let listener = tokio::net::TcpListener::bind(config.listen)
                    .await
                    .with_context(|| format!("binding {}", config.listen))?;
                home.write_bound(listener.local_addr()?)?;
                let (stop_ops, ops_stopped) = tokio::sync::oneshot::channel::<()>();
                let ops = match config.metrics_listen {
                    None => None,
                    Some(addr) => {
                        let ops = tokio::net::TcpListener::bind(addr)
                            .await
                            .with_context(|| format!("binding metrics_listen {addr}"))?;
                        Some(tokio::spawn(node::relay::metrics::serve(
                            relay.clone(),
                            ops,
                            home.dir.clone(),
                            async move {
                                let _ = ops_stopped.await;
                            },
                        )))
                    }
                };
                relay.run(listener, shutdown).await?;
                let _ = stop_ops.send(());
                if let Some(ops) = ops {
                    let _ = ops.await;
                }
                Ok::<_, anyhow::Error>(())
            })?;
            Ok(ExitCode::SUCCESS)
        }
        RelayCmd::Card(args) => {
            let home = RelayHome::new(&args.home);
            let relay = Relay::open(&home, None)?;
            // A relay configured on port 0 advertises the address it actually bound.
            if relay.config().advertise.is_none()
                && relay.config().listen.port() == 0
                && let Ok(text) = std::fs::read_to_string(home.bound_path())
                && let Ok(addr) = text.trim().parse()
            {
                relay.set_bound_endpoint(addr);
            }
            println!("{}", serde_json::to_string_pretty(&relay.card()?)?);
            Ok(ExitCode::SUCCESS)
        }
        RelayCmd::TrustDirectory { home, card } => {
            let text = crate::cmd::read(&card)?;
            let parsed = node::directory::DirectoryCard::parse(&text)
                .with_context(|| format!("{}", card.display()))?;
            let home = RelayHome::new(&home.home);
            if !home.config_path().exists() {
                return Err(RelayError::Missing(home.dir.display().to_string()).into());
            }
            home.save_directory_card(&parsed.association_id, &text)?;
            println!(
                "relay now admits members of {} ({}); restart the relay to apply",
                parsed.name, parsed.association_id
            );
            Ok(ExitCode::SUCCESS)
        }
        RelayCmd::Use {
            home,
            credential,
            card,
        } => {
            let node_home = crate::cmd::node_home(&home)?;
            let config = node_home.load_config()?;
            let key = node_home.load_key()?;
            let card_text = crate::cmd::read(&card)?;
            let credential_text = credential.as_deref().map(crate::cmd::read).transpose()?;
            let relay = node::relay::keeper::use_relay(
                &node_home,
                &config.company_id,
                key.key_id(),
                &card_text,
                credential_text.as_deref(),
            )?;
            println!(
                "{} is now reachable through relay {} ({}); restart `tanso serve` to apply",
                config.company_id, relay.name, relay.endpoint
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
