//! `tanso host …`: many companies' nodes in one process, and `--tenant` for every node
//! command on one of them.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use node::admin::{Answer, Command};
use node::host::admin::{HostAnswer, HostCommand};
use node::host::{Host, HostHome, RawHostConfig, TenantSpec};
use node::quota::Quotas;

use crate::cmd::{ConfigInvalid, runtime};

/// `tanso host …`
#[derive(Debug, Subcommand)]
pub(crate) enum HostCmd {
    /// Create a host: host.toml, its TLS identity, its key-encryption key, no tenants.
    Init(InitArgs),
    /// Serve every tenant until SIGINT/SIGTERM, then drain.
    Serve(HostHomeArg),
    /// Add, list, suspend, resume or remove tenants.
    #[command(subcommand)]
    Tenant(TenantCmd),
}

/// The host's home.
#[derive(Debug, Args, Clone)]
pub(crate) struct HostHomeArg {
    /// The host's home directory.
    #[arg(long, env = "TANSO_HOST_HOME")]
    home: PathBuf,
}

/// `tanso host init`
#[derive(Debug, Args)]
pub(crate) struct InitArgs {
    #[command(flatten)]
    home: HostHomeArg,
    /// The shared peer port (ip:port).
    #[arg(long)]
    listen: Option<String>,
    /// The endpoint every tenant's card advertises (defaults to --listen).
    #[arg(long)]
    advertise: Option<String>,
    /// The shared PACT REST port; tenant t is at https://HOST/t/{t}/.
    #[arg(long)]
    pact_listen: Option<String>,
    /// The shared dashboard port; tenant t's dashboard is https://HOST/t/{t}/.
    #[arg(long)]
    dashboard_listen: Option<String>,
    /// The host's ops listener (/metrics, /healthz), plain HTTP.
    #[arg(long)]
    metrics_listen: Option<String>,
    /// Read the key-encryption key (base64, 32 bytes) from this environment variable
    /// instead of generating the file `kek` in the home.
    #[arg(long)]
    kek_env: Option<String>,
    /// Store engine of new tenants: redb or sled.
    #[arg(long, value_parser = ["redb", "sled"])]
    engine: Option<String>,
    /// Close a tenant's store after this many idle seconds.
    #[arg(long)]
    idle_close_secs: Option<u64>,
}

/// `tanso host tenant …`
#[derive(Debug, Subcommand)]
pub(crate) enum TenantCmd {
    /// Add a tenant: a node with a fresh key sealed under the host's KEK.
    Add {
        #[command(flatten)]
        home: HostHomeArg,
        /// The tenant's company id (a urn).
        #[arg(long)]
        company_id: String,
        /// The company's display name.
        #[arg(long)]
        name: String,
        /// Its path segment (/t/{slug}/); defaults to the company id's last segment.
        #[arg(long)]
        slug: Option<String>,
        /// Peer and PACT requests admitted per second (default: the host's [quota]).
        #[arg(long)]
        requests_per_second: Option<u32>,
        /// Bytes its store may occupy (default: the host's [quota]).
        #[arg(long)]
        store_bytes: Option<u64>,
        /// Deliveries that may wait in its outbox (default: the host's [quota]).
        #[arg(long)]
        outbox_depth: Option<u64>,
    },
    /// Every tenant, its state and whether it is open.
    List(HostHomeArg),
    /// Stop serving a tenant (its data is kept; callers see an unknown node).
    Suspend {
        #[command(flatten)]
        home: HostHomeArg,
        /// Company id or slug.
        tenant: String,
    },
    /// Serve a suspended tenant again.
    Resume {
        #[command(flatten)]
        home: HostHomeArg,
        /// Company id or slug.
        tenant: String,
    },
    /// Remove a suspended tenant and its data.
    Remove {
        #[command(flatten)]
        home: HostHomeArg,
        /// Company id or slug.
        tenant: String,
    },
    /// Write a tenant as a signed home bundle (its key encrypted under the passphrase of
    /// --passphrase-file or TANSO_KEY_PASSPHRASE). Suspend it first to move it.
    Export {
        #[command(flatten)]
        home: HostHomeArg,
        /// Company id or slug.
        tenant: String,
        /// The bundle to write (must not exist).
        #[arg(long)]
        out: PathBuf,
    },
    /// Import a signed home bundle (from `tanso host tenant export` or `tanso home export`)
    /// as a new tenant, its key sealed under this host's KEK.
    Import {
        #[command(flatten)]
        home: HostHomeArg,
        /// The bundle.
        bundle: PathBuf,
        /// Its path segment (default: the company id's last segment).
        #[arg(long)]
        slug: Option<String>,
    },
}

pub(crate) fn run(cmd: HostCmd) -> Result<ExitCode> {
    match cmd {
        HostCmd::Init(args) => init(args),
        HostCmd::Serve(h) => serve(&h.home),
        HostCmd::Tenant(TenantCmd::Add {
            home,
            company_id,
            name,
            slug,
            requests_per_second,
            store_bytes,
            outbox_depth,
        }) => {
            let quotas =
                (requests_per_second.is_some() || store_bytes.is_some() || outbox_depth.is_some())
                    .then_some(Quotas {
                        requests_per_second,
                        store_bytes,
                        outbox_depth,
                    });
            let spec = TenantSpec {
                company_id,
                name,
                slug,
                quotas,
            };
            print(&home.home, HostCommand::TenantAdd { spec })
        }
        HostCmd::Tenant(TenantCmd::List(h)) => print(&h.home, HostCommand::TenantList),
        HostCmd::Tenant(TenantCmd::Suspend { home, tenant }) => {
            print(&home.home, HostCommand::TenantSuspend { tenant })
        }
        HostCmd::Tenant(TenantCmd::Resume { home, tenant }) => {
            print(&home.home, HostCommand::TenantResume { tenant })
        }
        HostCmd::Tenant(TenantCmd::Remove { home, tenant }) => {
            print(&home.home, HostCommand::TenantRemove { tenant })
        }
        HostCmd::Tenant(TenantCmd::Export { home, tenant, out }) => {
            let out = absolute(&out)?;
            let passphrase = crate::cmd::passphrase()?;
            print(
                &home.home,
                HostCommand::TenantExport {
                    tenant,
                    out,
                    passphrase,
                },
            )
        }
        HostCmd::Tenant(TenantCmd::Import { home, bundle, slug }) => {
            let bundle = absolute(&bundle)?;
            let passphrase = crate::cmd::passphrase()?;
            print(
                &home.home,
                HostCommand::TenantImport {
                    bundle,
                    passphrase,
                    slug,
                },
            )
        }
    }
}

/// Paths travel to the host's process: make them absolute here.
fn absolute(path: &Path) -> Result<PathBuf> {
    Ok(std::path::absolute(path)?)
}

fn init(args: InitArgs) -> Result<ExitCode> {
    let home = HostHome::new(&args.home.home);
    let shown = home.config_path().display().to_string();
    let mut raw = RawHostConfig::parse("", &shown)
        .map_err(|e| anyhow::Error::new(ConfigInvalid(e.to_string())))?;
    raw.listen = args.listen;
    raw.advertise = args.advertise;
    raw.pact_listen = args.pact_listen;
    raw.dashboard_listen = args.dashboard_listen;
    raw.metrics_listen = args.metrics_listen;
    if let Some(var) = args.kek_env {
        raw.kek.file = None;
        raw.kek.env = Some(var);
    }
    if let Some(engine) = args.engine {
        raw.tenants.engine = engine;
    }
    if let Some(secs) = args.idle_close_secs {
        raw.tenants.idle_close_secs = secs;
    }
    let config = home.init(&raw).map_err(|e| match e {
        node::host::HostError::Config(e) => anyhow::Error::new(ConfigInvalid(e.to_string())),
        e => e.into(),
    })?;
    println!(
        "created host {} (tenants advertise {:?}); add tenants with `tanso host tenant add --home {}`",
        home.dir.display(),
        config.endpoint(None),
        home.dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn serve(dir: &Path) -> Result<ExitCode> {
    let home = HostHome::new(dir);
    // Validate before anything is bound.
    if let Err(e) = home.load_config() {
        return Err(match e {
            node::host::HostError::Config(e) => anyhow::Error::new(ConfigInvalid(e.to_string())),
            e => e.into(),
        });
    }
    let rt = runtime()?;
    let _telemetry = {
        let _entered = rt.enter();
        crate::telemetry::init(false, "info", None)?
    };
    rt.block_on(async move {
        let shutdown = node::shutdown::signal();
        if node::host::admin::call(&home.admin_socket(), &HostCommand::TenantList)
            .await
            .is_some()
        {
            bail!("a host is already serving {}", home.dir.display());
        }
        let host = Host::open(home, crate::telemetry::allocator_stats())?;
        let listeners = node::host::HostListeners::bind(&host).await?;
        node::host::run(host, listeners, shutdown).await?;
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Runs a host command: through the admin socket when the host serves, else here.
fn call(dir: &Path, command: HostCommand) -> Result<HostAnswer> {
    let home = HostHome::new(dir);
    if !home.exists() {
        bail!(
            "{} is not a tanso host home (no host.toml); run `tanso host init` first",
            dir.display()
        );
    }
    runtime()?.block_on(async {
        if let Some(answer) = node::host::admin::call(&home.admin_socket(), &command).await {
            return answer.map_err(anyhow::Error::from);
        }
        let host = Host::open(home, None)?;
        let enqueues = matches!(&command, HostCommand::Node { command, .. } if command.enqueues());
        let node_for_delivery = match &command {
            HostCommand::Node { tenant, .. } if enqueues => {
                Some(host.operate(tenant).await?.node().clone())
            }
            _ => None,
        };
        let answer = node::host::admin::execute(&host, command).await?;
        if let Some(node) = node_for_delivery {
            // No host serves this home: one delivery attempt now; what fails stays queued.
            node::exchange::worker::deliver_enqueued(&node).await;
            drop(node);
        }
        host.close_all().await;
        Ok(answer)
    })
}

fn print(dir: &Path, command: HostCommand) -> Result<ExitCode> {
    match call(dir, command)? {
        HostAnswer::Tenant(entry) => crate::cmd::print_json(&entry)?,
        HostAnswer::Tenants(list) => crate::cmd::print_json(&list)?,
        HostAnswer::Node(answer) => crate::cmd::print_answer(&answer)?,
        HostAnswer::Exported(summary) => crate::cmd::print_json(&summary)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// A node command on tenant `tenant` of the host in `dir` (`--tenant`).
pub(crate) fn tenant_call(dir: &Path, tenant: &str, command: Command) -> Result<Answer> {
    match call(
        dir,
        HostCommand::Node {
            tenant: tenant.to_string(),
            command,
        },
    )? {
        HostAnswer::Node(answer) => Ok(answer),
        _ => Err(crate::cmd::unexpected()),
    }
}

/// The node home of tenant `tenant` of the host in `dir`, for commands that work on a
/// home's files (dashboard users, PACT clients).
pub(crate) fn tenant_home(dir: &Path, tenant: &str) -> Result<node::home::Home> {
    let home = HostHome::new(dir);
    let config = home.load_config()?;
    let registry = home.load_registry()?;
    let entry = registry
        .find(tenant)
        .ok_or_else(|| node::host::HostError::NoTenant(tenant.to_string()))?;
    let kek = node::host::kek::HostKek::load(&config.kek)?;
    Ok(kek.home(home.tenant_home(&entry.slug)))
}
