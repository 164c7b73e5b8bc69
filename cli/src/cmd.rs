//! Command-line interface: argument definitions and dispatch to the node library.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use node::admin::{self, Answer, Command};
use node::config::{RawConfig, RawLimits, RawLog, RawStore, RawTls};
use node::home::Home;
use node::store::RequestState;
use serde::{Deserialize, Serialize};

/// A configuration error found before binding (exit 64).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct ConfigInvalid(pub String);

/// tanso: a supply-chain carbon data-space connector.
#[derive(Debug, Parser)]
#[command(name = "tanso", version, about)]
pub(crate) struct Cli {
    /// A file holding the passphrase of an encrypted node key (else TANSO_KEY_PASSPHRASE).
    #[arg(long, global = true, env = "TANSO_KEY_PASSPHRASE_FILE")]
    passphrase_file: Option<PathBuf>,
    /// Draw no progress bars or spinners (they are drawn on stderr only when it is a
    /// terminal).
    #[arg(long, short, global = true)]
    quiet: bool,
    /// Run a node command on this tenant (company id or slug) of the host whose home
    /// `--home` names.
    #[arg(long, global = true, env = "TANSO_TENANT")]
    tenant: Option<String>,
    #[command(subcommand)]
    command: Top,
}

/// The node key could not be unlocked: missing or wrong passphrase (exit 77).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct KeyLocked(pub String);

/// Exit code of a locked key (sysexits EX_NOPERM).
pub(crate) const EXIT_KEY_LOCKED: u8 = 77;

/// The passphrase given with `--passphrase-file`, read once in `run`.
static PASSPHRASE: std::sync::OnceLock<node::home::Passphrase> = std::sync::OnceLock::new();

/// The passphrase of `--passphrase-file` or TANSO_KEY_PASSPHRASE, for a host command.
pub(crate) fn passphrase() -> Result<node::host::admin::Secret> {
    let pass = PASSPHRASE
        .get()
        .cloned()
        .or_else(node::home::Passphrase::from_env)
        .ok_or_else(|| {
            anyhow::anyhow!(
                "a bundle's node key is encrypted under a passphrase: give one with --passphrase-file or TANSO_KEY_PASSPHRASE"
            )
        })?;
    Ok(node::host::admin::Secret(
        String::from_utf8(pass.as_bytes().to_vec())
            .map_err(|_| anyhow::anyhow!("the passphrase is not UTF-8"))?,
    ))
}

/// `--tenant`, read once in `run`.
static TENANT: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// A home whose key is unlocked with `--passphrase-file` (or TANSO_KEY_PASSPHRASE).
pub(crate) fn open_home(dir: &Path) -> Home {
    Home::new(dir).with_passphrase(PASSPHRASE.get().cloned())
}

/// The node home a command that works on a home's files uses: `dir`, or with `--tenant`
/// that tenant's home in the host home `dir`.
pub(crate) fn node_home(dir: &Path) -> Result<Home> {
    match TENANT.get() {
        Some(tenant) => crate::host::tenant_home(dir, tenant),
        None => Ok(Home::new(dir)),
    }
}

/// Turns a locked-key error into [`KeyLocked`] (exit 77); other errors pass through.
fn locked(err: anyhow::Error) -> anyhow::Error {
    let home_err = err.downcast_ref::<node::home::HomeError>().or_else(|| {
        match err.downcast_ref::<node::error::NodeError>() {
            Some(node::error::NodeError::Home(h)) => Some(h),
            _ => None,
        }
    });
    let locked_bundle = err
        .downcast_ref::<node::bundle::BundleError>()
        .is_some_and(node::bundle::BundleError::is_locked_key);
    match home_err {
        Some(h) if h.is_locked_key() => anyhow::Error::new(KeyLocked(h.to_string())),
        _ if locked_bundle => anyhow::Error::new(KeyLocked(err.to_string())),
        _ => err,
    }
}

#[derive(Debug, Args, Clone)]
struct HomeArg {
    /// The node's home directory.
    #[arg(long, env = "TANSO_HOME", default_value = ".tanso")]
    home: PathBuf,
}

#[derive(Debug, Subcommand)]
enum Top {
    /// Create a node: config, ed25519 key, self-signed TLS certificate, store.
    Init(InitArgs),
    /// Run the node until SIGINT/SIGTERM, then drain.
    Serve(HomeArg),
    /// Print this node's card (JSON) for partners.
    Id(HomeArg),
    /// Manage partners.
    #[command(subcommand)]
    Partner(PartnerCmd),
    /// Manage usage policies.
    #[command(subcommand)]
    Policy(PolicyCmd),
    /// Publish and manage own footprints.
    #[command(subcommand)]
    Footprint(FootprintCmd),
    /// Ask a partner for footprints, verify them and keep them in the inbox.
    Fetch(FetchArgs),
    /// Verify, offline, the owner signatures of footprints in a file printed by `fetch`.
    Verify(VerifyArgs),
    /// Footprints received from others.
    #[command(subcommand)]
    Inbox(InboxCmd),
    /// The tamper-evident audit log.
    #[command(subcommand)]
    Audit(AuditCmd),
    /// Ask suppliers for footprints, and answer partners' requests.
    #[command(subcommand)]
    Request(RequestCmd),
    /// Be notified when a supplier publishes a new version of a product.
    Subscribe(SubscribeArgs),
    /// Stop being notified of a product.
    Unsubscribe(SubscribeArgs),
    /// Scope 3 upstream categories 1-8.
    #[command(subcommand)]
    Scope3(Scope3Cmd),
    /// Product carbon footprint composition.
    #[command(subcommand)]
    Pcf(PcfCmd),
    /// KPI reports from a KPI configuration.
    #[command(subcommand)]
    Kpi(KpiCmd),
    /// EU CBAM: embedded emissions, records for importers, the importer's declaration.
    #[command(subcommand)]
    Cbam(crate::cbam::CbamCmd),
    /// The web dashboard's users.
    #[command(subcommand)]
    Dashboard(crate::dashboard::DashboardCmd),
    /// The PACT v3 REST API: its OAuth clients.
    #[command(subcommand)]
    Pact(crate::pact::PactCmd),
    /// The blind relay for nodes with no inbound port.
    #[command(subcommand)]
    Relay(crate::relay::RelayCmd),
    /// An association's discovery directory, and a node's membership in directories.
    #[command(subcommand)]
    Directory(crate::directory::DirectoryCmd),
    /// Run a whole local data space on loopback and show an exchange step by step.
    Demo(DemoArgs),
    /// The node's signing key: rotation and passphrase protection.
    #[command(subcommand)]
    Key(KeyCmd),
    /// Probe a node's ops listener (plain HTTP): exit 0 when the path answers 200. For
    /// container health checks in images without curl.
    Healthcheck(HealthcheckArgs),
    /// The node's store.
    #[command(subcommand)]
    Store(StoreCmd),
    /// Many companies' nodes in one process: a host and its tenants.
    #[command(subcommand)]
    Host(crate::host::HostCmd),
    /// A whole home as one signed file: export it and import it elsewhere (moving a node).
    #[command(subcommand)]
    Home(HomeCmd),
}

#[derive(Debug, Subcommand)]
enum HomeCmd {
    /// Write a stopped node's home to one signed bundle file: config, key history, the node
    /// key re-encrypted under the passphrase (TANSO_KEY_PASSPHRASE or --passphrase-file),
    /// TLS files, PACT and dashboard files, the store and audit archive segments.
    Export {
        #[command(flatten)]
        home: HomeArg,
        /// The bundle file to write (must not exist).
        #[arg(long)]
        out: PathBuf,
    },
    /// Create a new home from a bundle, verifying everything before writing anything; a
    /// bundle without a TLS identity gets a fresh self-signed certificate. Partners learn
    /// the new endpoint and certificate from the card update the node sends when it serves.
    Import {
        /// The bundle file written by `tanso home export`.
        #[arg(long)]
        bundle: PathBuf,
        /// The new home directory (must not exist).
        #[command(flatten)]
        home: HomeArg,
    },
}

#[derive(Debug, Subcommand)]
enum StoreCmd {
    /// Move a stopped node's store to the other engine: copied, compared table by table,
    /// `[store] engine` switched and the audit chain verified, or nothing changes. The old
    /// engine's files are kept aside (renamed) for you to delete.
    Migrate {
        #[command(flatten)]
        home: HomeArg,
        /// The engine to move to: redb or sled.
        #[arg(long, value_parser = ["redb", "sled"])]
        to: String,
    },
}

#[derive(Debug, Subcommand)]
enum KeyCmd {
    /// Rotate the node key, running or stopped: a new key, a statement signed by the old key,
    /// the old key kept in the card's key history, and the new card sent to every partner.
    Rotate(HomeArg),
    /// Encrypt the node key with a passphrase (TANSO_KEY_PASSPHRASE or --passphrase-file);
    /// the node must be stopped.
    Encrypt(HomeArg),
    /// The current key id, whether the key file is encrypted, and the retired keys.
    Show(HomeArg),
}

#[derive(Debug, Args)]
struct HealthcheckArgs {
    /// The `[metrics] listen` address to probe (ip:port).
    #[arg(long, default_value = "127.0.0.1:9464")]
    addr: std::net::SocketAddr,
    /// The path to GET: /readyz (default) or /healthz.
    #[arg(long, default_value = "/readyz")]
    path: String,
}

#[derive(Debug, Args)]
struct InitArgs {
    #[command(flatten)]
    home: HomeArg,
    /// This company's id (a URN, e.g. urn:tanso:company:acme).
    #[arg(long)]
    company_id: String,
    /// The company's name.
    #[arg(long)]
    name: String,
    /// Where to serve peers (ip:port). Without it the node has no inbound port.
    #[arg(long)]
    listen: Option<String>,
    /// Endpoint to advertise in the card (defaults to the bound listen address).
    #[arg(long)]
    advertise: Option<String>,
    /// Storage engine: redb (default) or sled.
    #[arg(long, default_value = "redb")]
    engine: String,
    /// Serve and dial plain h2c instead of TLS (local development only).
    #[arg(long)]
    insecure_h2c: bool,
    /// Where to serve the PACT v3 REST API over HTTPS (ip:port; its own port, not gRPC's).
    #[arg(long)]
    pact_listen: Option<String>,
    /// Encrypt the node key with a passphrase (TANSO_KEY_PASSPHRASE or --passphrase-file).
    #[arg(long)]
    encrypt_key: bool,
    /// Where to serve /metrics, /healthz and /readyz over plain HTTP (ip:port).
    #[arg(long)]
    metrics_listen: Option<String>,
    /// Log format: text (default) or json.
    #[arg(long, default_value = "text")]
    log_format: String,
    /// Use this ed25519 node key (PKCS#8 PEM, e.g. mounted from a secret) instead of
    /// generating one.
    #[arg(long, conflicts_with = "encrypt_key")]
    key_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum PartnerCmd {
    /// Add (or replace) a partner from its card.
    Add {
        #[command(flatten)]
        home: HomeArg,
        /// A group for policies (repeatable), e.g. customer.
        #[arg(long = "group")]
        groups: Vec<String>,
        /// The partner's card (JSON printed by `tanso id`).
        card: PathBuf,
        /// Re-pin a known partner's key even when the new card's key history does not chain
        /// from the key pinned now (verify the card out of band first).
        #[arg(long)]
        replace: bool,
    },
    List(HomeArg),
    Remove {
        #[command(flatten)]
        home: HomeArg,
        company_id: String,
    },
}

#[derive(Debug, Subcommand)]
enum PolicyCmd {
    /// Load a policy file (rejected with its position on any error).
    Add {
        #[command(flatten)]
        home: HomeArg,
        file: PathBuf,
    },
    List(HomeArg),
    Remove {
        #[command(flatten)]
        home: HomeArg,
        uid: String,
    },
    /// Print the decision for a partner and product, and the rule and constraint that decided it.
    Explain {
        #[command(flatten)]
        home: HomeArg,
        #[arg(long)]
        partner: String,
        #[arg(long)]
        product_id: String,
        #[arg(long)]
        purpose: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum FootprintCmd {
    /// Validate, sign and store footprints from a PACT JSON object, array or JSONL file.
    Publish {
        #[command(flatten)]
        home: HomeArg,
        file: PathBuf,
    },
    /// Publish a new version of a footprint (the old one becomes Deprecated).
    Update {
        #[command(flatten)]
        home: HomeArg,
        id: String,
        file: PathBuf,
    },
    List(HomeArg),
    Show {
        #[command(flatten)]
        home: HomeArg,
        id: String,
    },
    Deprecate {
        #[command(flatten)]
        home: HomeArg,
        id: String,
    },
}

#[derive(Debug, Args)]
struct FetchArgs {
    #[command(flatten)]
    home: HomeArg,
    /// The partner's company id.
    #[arg(long)]
    from: String,
    /// Product ids to fetch footprints of (repeatable).
    #[arg(
        long = "product-id",
        required_unless_present = "id",
        conflicts_with = "id"
    )]
    product_ids: Vec<String>,
    /// One footprint id.
    #[arg(long)]
    id: Option<String>,
    /// The purpose to declare (policies may require one).
    #[arg(long)]
    purpose: Option<String>,
}

#[derive(Debug, Args)]
struct VerifyArgs {
    /// A file printed by `tanso fetch` or `tanso inbox export` (JSON array, object or JSONL).
    file: PathBuf,
    /// A node home whose partner cards say which company each key belongs to.
    #[arg(long)]
    home: Option<PathBuf>,
    /// A company's card (repeatable): each footprint must be signed by the current key or a
    /// retired key (from the key history) of the card of its signing company.
    #[arg(long = "card")]
    cards: Vec<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum InboxCmd {
    List(HomeArg),
    Show {
        #[command(flatten)]
        home: HomeArg,
        id: String,
    },
    /// Print every received footprint as PACT JSON with its owner signature.
    Export(HomeArg),
}

#[derive(Debug, Subcommand)]
enum RequestCmd {
    /// Send a request for footprints; prints the request id.
    Send {
        #[command(flatten)]
        home: HomeArg,
        /// The supplier's company id.
        #[arg(long)]
        to: String,
        /// Product ids (repeatable).
        #[arg(long = "product-id", required_unless_present = "classifications")]
        product_ids: Vec<String>,
        /// Product classifications (repeatable), e.g. urn:hs:7208.
        #[arg(long = "classification")]
        classifications: Vec<String>,
        #[arg(long, default_value = "")]
        comment: String,
        /// The purpose to declare (policies may require one).
        #[arg(long)]
        purpose: Option<String>,
    },
    /// Requests sent and received.
    List(HomeArg),
    Show {
        #[command(flatten)]
        home: HomeArg,
        id: String,
    },
    /// pending, fulfilled (with footprint ids), rejected (with reason) or undeliverable.
    Status {
        #[command(flatten)]
        home: HomeArg,
        id: String,
    },
    /// Answer a received request with own footprints.
    Fulfil {
        #[command(flatten)]
        home: HomeArg,
        id: String,
        /// Footprint ids (repeatable).
        #[arg(long = "footprint", required = true)]
        footprints: Vec<String>,
    },
    /// Reject a received request.
    Reject {
        #[command(flatten)]
        home: HomeArg,
        id: String,
        #[arg(long)]
        reason: String,
    },
}

#[derive(Debug, Args)]
struct SubscribeArgs {
    #[command(flatten)]
    home: HomeArg,
    /// The supplier's company id.
    #[arg(long)]
    to: String,
    /// Product ids (repeatable).
    #[arg(long = "product-id", required = true)]
    product_ids: Vec<String>,
}

#[derive(Debug, Subcommand)]
enum AuditCmd {
    /// Check the hash chain and the signed head; with --archive, the whole history.
    Verify {
        #[command(flatten)]
        home: HomeArg,
        /// Archive segment files (or directories of them) to check with the store, so the
        /// whole history since the first entry is verified.
        #[arg(long = "archive", num_args = 1..)]
        archives: Vec<PathBuf>,
    },
    /// Move the entries older than a date into a segment file signed by the node, and
    /// remove them from the store (the chain there then starts from the archived anchor).
    Archive {
        #[command(flatten)]
        home: HomeArg,
        /// Archive the entries older than this: RFC 3339 (2026-03-01T00:00:00Z) or
        /// YYYY-MM-DD (midnight UTC).
        #[arg(long)]
        before: String,
        /// The segment file to write (JSON lines; it must not exist).
        #[arg(long)]
        out: PathBuf,
    },
    /// Write the log as JSON lines.
    Export {
        #[command(flatten)]
        home: HomeArg,
        /// Output file (default: standard output).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// Arguments of `tanso demo`.
#[derive(Debug, Args)]
struct DemoArgs {
    /// Keep the data space running at the end, with the buyer's dashboard up and a one-time
    /// login link printed, until Ctrl-C.
    #[arg(long)]
    keep: bool,
}

#[derive(Debug, Subcommand)]
enum Scope3Cmd {
    /// Calculate Scope 3 categories 1-8 from an activity ledger.
    Report(crate::calc::Scope3Args),
}

#[derive(Debug, Subcommand)]
enum PcfCmd {
    /// Compose an own PCF from a bill of materials.
    Compose(crate::calc::ComposeArgs),
}

#[derive(Debug, Subcommand)]
enum KpiCmd {
    /// Evaluate a KPI configuration.
    Report(crate::calc::KpiArgs),
    /// The monitoring views (executive, operational, field) for a month, with forecasts,
    /// department ranking and action-plan progress.
    Monitor(crate::calc::MonitorArgs),
}

/// Runs the parsed command line.
pub(crate) fn run(cli: Cli) -> Result<ExitCode> {
    crate::progress::init(cli.quiet);
    if let Some(path) = &cli.passphrase_file {
        let pass = node::home::Passphrase::from_file(path)?;
        let _ = PASSPHRASE.set(pass);
    }
    if let Some(tenant) = cli.tenant {
        let _ = TENANT.set(tenant);
    }
    run_command(cli.command).map_err(locked)
}

fn run_command(command: Top) -> Result<ExitCode> {
    match command {
        Top::Init(args) => init(args),
        Top::Healthcheck(args) => healthcheck(&args),
        Top::Serve(h) => serve(&h.home),
        Top::Demo(args) => {
            init_logging(false, "warn");
            runtime()?.block_on(node::demo::run(
                &mut std::io::stdout(),
                node::demo::DemoOptions { keep: args.keep },
            ))?;
            Ok(ExitCode::SUCCESS)
        }
        Top::Verify(args) => verify(args),
        Top::Dashboard(cmd) => crate::dashboard::run(cmd),
        Top::Pact(cmd) => crate::pact::run(cmd),
        Top::Cbam(cmd) => crate::cbam::run(cmd),
        Top::Relay(cmd) => crate::relay::run(cmd),
        Top::Host(cmd) => crate::host::run(cmd),
        Top::Directory(cmd) => crate::directory::run(cmd),
        Top::Scope3(Scope3Cmd::Report(args)) => crate::calc::scope3_report(args),
        Top::Pcf(PcfCmd::Compose(args)) => crate::calc::pcf_compose(args),
        Top::Kpi(KpiCmd::Report(args)) => crate::calc::kpi_report(args),
        Top::Kpi(KpiCmd::Monitor(args)) => crate::calc::kpi_monitor(args),
        Top::Id(h) => print(&h.home, Command::Id),
        Top::Partner(PartnerCmd::Add {
            home,
            groups,
            card,
            replace,
        }) => {
            let card = read(&card)?;
            print(
                &home.home,
                Command::PartnerAdd {
                    card,
                    groups,
                    replace,
                },
            )
        }
        Top::Key(KeyCmd::Rotate(h)) => {
            let Answer::KeyRotated(out) = call(&h.home, Command::KeyRotate)? else {
                return Err(unexpected());
            };
            let out = out.rotation;
            println!(
                "rotated {}: {} -> {} ({} partner(s) will be sent the new card)",
                out.company_id, out.old_key_id, out.new_key_id, out.partners_notified,
            );
            Ok(ExitCode::SUCCESS)
        }
        Top::Key(KeyCmd::Show(h)) => print(&h.home, Command::KeyShow),
        Top::Key(KeyCmd::Encrypt(h)) => key_encrypt(&h.home),
        Top::Store(StoreCmd::Migrate { home, to }) => store_migrate(&home.home, &to),
        Top::Home(HomeCmd::Export { home, out }) => home_export(&home.home, &out),
        Top::Home(HomeCmd::Import { bundle, home }) => home_import(&bundle, &home.home),
        Top::Partner(PartnerCmd::List(h)) => print(&h.home, Command::PartnerList),
        Top::Partner(PartnerCmd::Remove { home, company_id }) => {
            print(&home.home, Command::PartnerRemove { company_id })
        }
        Top::Policy(PolicyCmd::Add { home, file }) => {
            let source = read(&file)?;
            let name = file.display().to_string();
            print(&home.home, Command::PolicyAdd { name, source })
        }
        Top::Policy(PolicyCmd::List(h)) => print(&h.home, Command::PolicyList),
        Top::Policy(PolicyCmd::Remove { home, uid }) => {
            print(&home.home, Command::PolicyRemove { uid })
        }
        Top::Policy(PolicyCmd::Explain {
            home,
            partner,
            product_id,
            purpose,
        }) => {
            let Answer::Explanation(text) = call(
                &home.home,
                Command::PolicyExplain {
                    partner,
                    product_id,
                    purpose,
                },
            )?
            else {
                return Err(unexpected());
            };
            println!("{text}");
            Ok(ExitCode::SUCCESS)
        }
        Top::Footprint(FootprintCmd::Publish { home, file }) => publish(&home.home, &file),
        Top::Footprint(FootprintCmd::Update { home, id, file }) => {
            let text = read(&file)?;
            let Answer::Published(outcome) = call(&home.home, Command::Update { id, text })? else {
                return Err(unexpected());
            };
            print_publish(&outcome)
        }
        Top::Footprint(FootprintCmd::List(h)) => print(&h.home, Command::FootprintList),
        Top::Footprint(FootprintCmd::Show { home, id }) => {
            print(&home.home, Command::FootprintShow { id })
        }
        Top::Footprint(FootprintCmd::Deprecate { home, id }) => {
            print(&home.home, Command::Deprecate { id })
        }
        Top::Fetch(args) => {
            let Answer::Fetched(fetched) = call(
                &args.home.home,
                Command::Fetch {
                    from: args.from,
                    product_ids: args.product_ids,
                    id: args.id,
                    purpose: args.purpose,
                },
            )?
            else {
                return Err(unexpected());
            };
            print_json(&fetched.footprints)?;
            // Footprints the supplier could not send (over its message limit) are named.
            for id in &fetched.withheld {
                eprintln!(
                    "warning: footprint {id} not sent: its answer is over the supplier's message \
                     limit ([limits] max_message_bytes); ask the supplier for it"
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Top::Inbox(InboxCmd::List(h)) => print(&h.home, Command::InboxList),
        Top::Inbox(InboxCmd::Show { home, id }) => print(&home.home, Command::InboxShow { id }),
        Top::Inbox(InboxCmd::Export(h)) => print(&h.home, Command::InboxExport),
        Top::Request(cmd) => request(cmd),
        Top::Subscribe(a) => print(
            &a.home.home,
            Command::Subscribe {
                to: a.to,
                product_ids: a.product_ids,
                unsubscribe: false,
            },
        ),
        Top::Unsubscribe(a) => print(
            &a.home.home,
            Command::Subscribe {
                to: a.to,
                product_ids: a.product_ids,
                unsubscribe: true,
            },
        ),
        Top::Audit(AuditCmd::Verify { home, archives }) => audit_verify(&home.home, archives),
        Top::Audit(AuditCmd::Archive { home, before, out }) => {
            let before = node::archive::parse_before(&before).map_err(ConfigInvalid)?;
            // The node may run in another directory: it gets an absolute path.
            let out =
                std::path::absolute(&out).with_context(|| format!("--out {}", out.display()))?;
            let Answer::Archived(done) = call(
                &home.home,
                Command::AuditArchive {
                    before: before.to_rfc3339(),
                    out,
                },
            )?
            else {
                return Err(unexpected());
            };
            match (done.first_seq, done.last_seq, &done.file) {
                (Some(first), Some(last), Some(file)) => println!(
                    "archived {} entries (seq {first}..={last}) to {file}; the store keeps {} entries from seq {}",
                    done.archived, done.remaining, done.archived_total
                ),
                _ => println!(
                    "nothing to archive: no entry older than {}; the store keeps {} entries from seq {}",
                    before.to_rfc3339(),
                    done.remaining,
                    done.archived_total
                ),
            }
            Ok(ExitCode::SUCCESS)
        }
        Top::Audit(AuditCmd::Export { home, out }) => {
            let Answer::AuditExport(text) = call(&home.home, Command::AuditExport)? else {
                return Err(unexpected());
            };
            match out {
                Some(path) => std::fs::write(&path, text)
                    .with_context(|| format!("writing {}", path.display()))?,
                None => std::io::stdout().write_all(text.as_bytes())?,
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `tanso audit verify [--archive FILE...]`: exit 0 when the chain (or history) verifies.
fn audit_verify(home: &Path, archives: Vec<PathBuf>) -> Result<ExitCode> {
    let archives = archives
        .iter()
        .map(|p| std::path::absolute(p).with_context(|| format!("--archive {}", p.display())))
        .collect::<Result<Vec<_>>>()?;
    let answer = call(home, Command::AuditVerify { archives })?;
    let print_problems = |problems: &[String]| {
        for p in problems {
            println!("  - {p}");
        }
    };
    let report = match answer {
        Answer::AuditChain(report) => report,
        Answer::AuditHistory(report) => {
            let n = report.entries;
            let archived = n.saturating_sub(report.stored);
            if report.ok {
                println!(
                    "audit history ok: {n} entries since the first: {archived} in {} archive segment(s), {} in the store; signatures and head valid",
                    report.segments.len(),
                    report.stored
                );
                return Ok(ExitCode::SUCCESS);
            }
            println!("audit history BROKEN ({n} entries):");
            print_problems(&report.problems);
            return Ok(ExitCode::FAILURE);
        }
        _ => return Err(unexpected()),
    };
    let (n, archived) = (report.entries, report.archived);
    let held = if archived > 0 {
        format!(
            " ({archived} archived before seq {archived}, {} in the store)",
            n.saturating_sub(archived)
        )
    } else {
        String::new()
    };
    if report.ok {
        println!("audit chain ok: {n} entries{held}, head signature valid");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("audit chain BROKEN ({n} entries{held}):");
        print_problems(&report.problems);
        Ok(ExitCode::FAILURE)
    }
}

fn request(cmd: RequestCmd) -> Result<ExitCode> {
    match cmd {
        RequestCmd::Send {
            home,
            to,
            product_ids,
            classifications,
            comment,
            purpose,
        } => {
            let Answer::Outgoing(sent) = call(
                &home.home,
                Command::RequestSend {
                    to,
                    product_ids,
                    classifications,
                    comment,
                    purpose,
                },
            )?
            else {
                return Err(unexpected());
            };
            println!("{}", sent.id);
            Ok(ExitCode::SUCCESS)
        }
        RequestCmd::List(h) => print(&h.home, Command::RequestList),
        RequestCmd::Show { home, id } => print(&home.home, Command::RequestShow { id }),
        RequestCmd::Status { home, id } => {
            let Answer::RequestStatus(out) = call(&home.home, Command::RequestStatus { id })?
            else {
                return Err(unexpected());
            };
            match out.status {
                RequestState::Fulfilled => println!("fulfilled {}", out.footprint_ids.join(" ")),
                status @ (RequestState::Rejected | RequestState::Undeliverable) => {
                    println!("{status}: {}", out.reason.unwrap_or_default())
                }
                other @ (RequestState::Queued | RequestState::Pending) => println!("{other}"),
            }
            Ok(ExitCode::SUCCESS)
        }
        RequestCmd::Fulfil {
            home,
            id,
            footprints,
        } => print(
            &home.home,
            Command::RequestFulfil {
                id,
                footprint_ids: footprints,
            },
        ),
        RequestCmd::Reject { home, id, reason } => {
            print(&home.home, Command::RequestReject { id, reason })
        }
    }
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Reads an input file, with a bar of the bytes read when it is large (see `progress`).
pub(crate) fn read(path: &Path) -> Result<String> {
    use std::io::Read;
    let mut file = crate::progress::open(path)?;
    let mut text = String::with_capacity(usize::try_from(file.len()).unwrap_or(0));
    file.read_to_string(&mut text)
        .with_context(|| format!("reading {}", path.display()))?;
    Ok(text)
}

pub(crate) fn init_logging(json: bool, default: &str) {
    // Without an OTLP endpoint this cannot fail, and the guard holds nothing.
    let _ = crate::telemetry::init(json, default, None);
}

fn init(args: InitArgs) -> Result<ExitCode> {
    let raw = RawConfig {
        company_id: args.company_id,
        name: args.name,
        listen: args.listen,
        advertise: args.advertise,
        store: RawStore {
            engine: args.engine,
            ..RawStore::default()
        },
        limits: RawLimits::default(),
        tls: RawTls {
            insecure_h2c: args.insecure_h2c,
            ..RawTls::default()
        },
        log: RawLog {
            format: args.log_format,
            ..RawLog::default()
        },
        dashboard: Default::default(),
        exchange: Default::default(),
        pact: node::config::RawPact {
            listen: args.pact_listen,
            ..Default::default()
        },
        metrics: node::config::RawMetrics {
            listen: args.metrics_listen,
        },
        directory: Default::default(),
        audit: Default::default(),
    };
    let home = open_home(&args.home.home);
    // An imported key is checked before anything is written.
    let imported = match &args.key_file {
        None => None,
        Some(path) => {
            let pem = read(path)?;
            node::crypto::NodeKey::from_pem(&pem)
                .with_context(|| format!("{} is not an ed25519 PKCS#8 PEM key", path.display()))?;
            Some(pem)
        }
    };
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("reading OS randomness: {e}"))?;
    home.init_with(&raw, &seed, args.encrypt_key)
        .map_err(|e| match e {
            node::home::HomeError::Config(c) => anyhow::Error::new(ConfigInvalid(c.to_string())),
            other => other.into(),
        })?;
    if let Some(pem) = imported {
        write_private(&home.key_path(), pem.as_bytes())?;
    }
    // Create the store now so a fresh home is complete.
    drop(node::open(&home)?);
    println!(
        "initialised {} ({}) in {}",
        raw.name,
        raw.company_id,
        args.home.home.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Replaces `path` with `bytes` (mode 0600) through a temporary file and a rename.
fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}

fn healthcheck(args: &HealthcheckArgs) -> Result<ExitCode> {
    use std::io::Read;
    let timeout = std::time::Duration::from_secs(3);
    let mut tcp = std::net::TcpStream::connect_timeout(&args.addr, timeout)
        .with_context(|| format!("connecting to {}", args.addr))?;
    tcp.set_read_timeout(Some(timeout))?;
    write!(
        tcp,
        "GET {} HTTP/1.1\r\nhost: {}\r\nconnection: close\r\n\r\n",
        args.path, args.addr
    )?;
    let mut response = String::new();
    tcp.read_to_string(&mut response)?;
    let status = response.split_whitespace().nth(1).unwrap_or("none");
    if status == "200" {
        return Ok(ExitCode::SUCCESS);
    }
    bail!("{}{} answered {status}", args.addr, args.path)
}

fn serve(home_dir: &Path) -> Result<ExitCode> {
    let home = open_home(home_dir);
    // Validate the configuration before anything is bound.
    let config = match home.load_config() {
        Ok(c) => c,
        Err(node::home::HomeError::Config(e)) => {
            return Err(anyhow::Error::new(ConfigInvalid(e.to_string())));
        }
        Err(e) => return Err(e.into()),
    };
    let rt = runtime()?;
    // The OTLP exporter (feature `otel`) spawns its channel on the runtime.
    let _telemetry = {
        let _entered = rt.enter();
        crate::telemetry::init(config.log_json, "info", config.otlp_endpoint.as_deref())?
    };
    rt.block_on(async move {
        // Handlers first: a signal after the admin socket or an address file appears drains.
        let shutdown = node::shutdown::signal();
        let node = loop {
            if admin_socket_answers(&home).await {
                bail!("a node is already serving {}", home.dir.display());
            }
            if let Some(node) = open_waiting(&home, "the command holding it to finish").await? {
                break node;
            }
        };
        let listeners = node::server::Listeners::bind(&node).await?;
        node::server::run(node, listeners, shutdown).await?;
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// How long a command waits for a home another process holds (a `serve` starting, or
/// another command finishing) before it gives up.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(15);

/// Opens the node in `home`, waiting while another process holds its store (at most
/// [`LOCK_WAIT`] in all, saying once what it waits for). `Ok(None)`: it was busy at the
/// first try and the caller should look for the admin socket again.
async fn open_waiting(home: &Home, waiting_for: &str) -> Result<Option<node::Node>> {
    let started = std::time::Instant::now();
    let mut said = false;
    loop {
        match node::open_with(home, crate::telemetry::allocator_stats()) {
            Ok(node) => return Ok(Some(node)),
            Err(node::NodeError::Store(node::store::StoreError::Locked(reason)))
                if started.elapsed() < LOCK_WAIT =>
            {
                if !said {
                    eprintln!(
                        "tanso: {} is in use by another process; waiting up to {} s for {waiting_for}",
                        home.dir.display(),
                        LOCK_WAIT.as_secs()
                    );
                    said = true;
                    tracing::debug!(%reason, "store locked");
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                if admin_socket_answers(home).await {
                    return Ok(None);
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Whether a node serves `home` through its admin socket.
async fn admin_socket_answers(home: &Home) -> bool {
    home.admin_socket().exists()
        && admin::call(&home.admin_socket(), &Command::Id)
            .await
            .is_some()
}

/// Runs a command on the node: through the admin socket when `tanso serve` runs, else
/// by opening the home directly. Either way the answer is the same typed [`Answer`].
pub(crate) fn call(home_dir: &Path, command: Command) -> Result<Answer> {
    if let Some(tenant) = TENANT.get() {
        return crate::host::tenant_call(home_dir, tenant, command);
    }
    let home = open_home(home_dir);
    if !home.exists() {
        bail!(
            "{} is not a tanso home (no config.toml); run `tanso init` first",
            home_dir.display()
        );
    }
    let rt = runtime()?;
    // The library reports the progress of some commands run here (`reports_progress`);
    // for the others, and for every command a running node executes, a spinner.
    let bars = crate::progress::Bars::new();
    let mut spinner = Some(crate::progress::Spinner::start(label(&command)));
    rt.block_on(async {
        let node = loop {
            if let Some(answer) = admin::call(&home.admin_socket(), &command).await {
                return answer.map_err(anyhow::Error::from);
            }
            match open_waiting(
                &home,
                "the node starting on this home to open its admin socket",
            )
            .await?
            {
                Some(node) => break node,
                // The store was busy and is still: ask the admin socket again.
                None => continue,
            }
        };
        if reports_progress(&command) {
            drop(spinner.take());
        }
        let enqueues = command.enqueues();
        let out = admin::execute_with(&node, command, &bars).await?;
        if enqueues {
            // No node serves this home: one delivery attempt now; what fails stays queued
            // for the outbox worker of a later `tanso serve`.
            node::exchange::worker::deliver_enqueued(&node).await;
        }
        Ok(out)
    })
}

/// Whether the library reports the progress of `command` when it runs in this process.
fn reports_progress(command: &Command) -> bool {
    matches!(command, Command::PactPull { .. })
}

/// What a spinner says while `command` runs.
fn label(command: &Command) -> &'static str {
    match command {
        Command::Publish { .. } | Command::Update { .. } => "publishing footprints",
        Command::AuditVerify { .. } => "verifying the audit log",
        Command::AuditExport => "exporting the audit log",
        Command::AuditArchive { .. } => "archiving the audit log",
        Command::Fetch { .. } => "fetching footprints",
        Command::PactPull { .. } => "pulling footprints",
        Command::InboxExport => "exporting the inbox",
        _ => "working",
    }
}

/// The answer did not fit the command (a node of another build on the admin socket).
pub(crate) fn unexpected() -> anyhow::Error {
    anyhow::anyhow!("the node's answer does not fit the command")
}

pub(crate) fn print(home: &Path, command: Command) -> Result<ExitCode> {
    print_answer(&call(home, command)?)?;
    Ok(ExitCode::SUCCESS)
}

/// Prints an answer as pretty JSON: what it carries, without the name of its variant.
pub(crate) fn print_answer(answer: &Answer) -> Result<()> {
    match answer {
        Answer::Card(card) => print_json(card),
        Answer::Published(outcome) => print_json(outcome),
        Answer::Footprints(list) => print_json(list),
        Answer::Footprint(document) => print_json(document),
        Answer::Deprecated(deprecated) => print_json(deprecated),
        Answer::PartnerAdded(added) => print_json(added),
        Answer::Partners(partners) => print_json(partners),
        Answer::Removed(removed) => print_json(removed),
        Answer::PolicyAdded(added) => print_json(added),
        Answer::Policies(policies) => print_json(policies),
        Answer::Explanation(text) => print_json(text),
        Answer::Fetched(fetched) => print_json(fetched),
        Answer::Pulled(report) => print_json(report),
        Answer::Outgoing(request) => print_json(request),
        Answer::Incoming(request) => print_json(request),
        Answer::Requests(list) => print_json(list),
        Answer::Request(shown) => print_json(shown),
        Answer::RequestStatus(status) => print_json(status),
        Answer::Inbox(list) => print_json(list),
        Answer::InboxEntry(entry) => print_json(entry),
        Answer::Documents(documents) => print_json(documents),
        Answer::Suppliers(suppliers) => print_json(suppliers),
        Answer::KpiMeasures(rows) => print_json(rows),
        Answer::AuditChain(report) => print_json(report),
        Answer::AuditHistory(report) => print_json(report),
        Answer::AuditExport(text) => print_json(text),
        Answer::Archived(outcome) => print_json(outcome),
        Answer::KeyRotated(rotated) => print_json(rotated),
        Answer::Key(key) => print_json(key),
        Answer::Subscription(subscription) => print_json(subscription),
        Answer::DirectoryTrusted(trusted) => print_json(trusted),
        Answer::Joined(joined) => print_json(joined),
        Answer::Directories(directories) => print_json(directories),
        Answer::Found(found) => print_json(found),
    }
}

/// Prints `value` as pretty JSON with the keys of every object in order, as `tanso` has
/// always printed them: through serde_json's map (ordered by key), which also expands a
/// [`node::admin::Document`]'s text so it is indented like the rest.
pub(crate) fn print_json(value: &impl Serialize) -> Result<()> {
    let ordered = serde_json::to_value(value)?;
    println!("{}", serde_json::to_string_pretty(&ordered)?);
    Ok(())
}

/// `footprint publish`: the file is streamed, to the node serving the home through its
/// admin socket or to the home opened here, and never read whole into memory.
fn publish(home_dir: &Path, file: &Path) -> Result<ExitCode> {
    if TENANT.get().is_some() {
        // A tenant's publish goes through the host's admin socket as one document.
        let Answer::Published(outcome) = call(home_dir, Command::Publish { text: read(file)? })?
        else {
            return Err(unexpected());
        };
        return print_publish(&outcome);
    }
    let home = open_home(home_dir);
    if !home.exists() {
        bail!(
            "{} is not a tanso home (no config.toml); run `tanso init` first",
            home_dir.display()
        );
    }
    let after_reading = std::sync::Arc::new(std::sync::Mutex::new(None));
    let mut input = PublishInput {
        file: Some(crate::progress::open(file)?),
        after_reading: after_reading.clone(),
    };
    let outcome = runtime()?.block_on(async {
        let node = loop {
            if let Some(answer) = admin::publish_stream(&home.admin_socket(), &mut input) {
                return answer.map_err(anyhow::Error::from);
            }
            match open_waiting(
                &home,
                "the node starting on this home to open its admin socket",
            )
            .await?
            {
                Some(node) => break node,
                None => continue,
            }
        };
        let publisher = node.clone();
        let input = std::io::BufReader::with_capacity(256 * 1024, input);
        let outcome = tokio::task::spawn_blocking(move || publisher.publish_reader(input))
            .await
            .context("publish task")??;
        // No node serves this home: one delivery attempt now (see `call`).
        node::exchange::worker::deliver_enqueued(&node).await;
        Ok::<_, anyhow::Error>(outcome)
    });
    drop(
        after_reading
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take(),
    );
    print_publish(&outcome?)
}

/// The file of a streamed publish: a bar of the bytes read while the node reads (and so
/// publishes) it, then, from its end, a spinner until the publish answers (its last chunks
/// and the commit).
struct PublishInput {
    file: Option<crate::progress::FileRead>,
    after_reading: std::sync::Arc<std::sync::Mutex<Option<crate::progress::Spinner>>>,
}

impl std::io::Read for PublishInput {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let Some(file) = &mut self.file else {
            return Ok(0);
        };
        let n = file.read(buf)?;
        if n == 0 && !buf.is_empty() {
            self.file = None; // the bar goes
            *self.after_reading.lock().unwrap_or_else(|p| p.into_inner()) =
                Some(crate::progress::Spinner::start("publishing footprints"));
        }
        Ok(n)
    }
}

/// Prints what a publish did: the new ids on stdout, deprecations and notes on stderr.
fn print_publish(outcome: &node::publish::PublishOutcome) -> Result<ExitCode> {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for id in outcome.ids.iter() {
        writeln!(out, "{id}")?;
    }
    out.flush()?;
    for id in outcome.deprecated.iter() {
        eprintln!("deprecated {id}");
    }
    for note in &outcome.notes {
        eprintln!("note: {note}");
    }
    Ok(ExitCode::SUCCESS)
}

fn verify(args: VerifyArgs) -> Result<ExitCode> {
    let text = read(&args.file)?;
    let docs = node::pact::parse_document(&text)
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.file.display()))?;
    let partners = match &args.home {
        Some(h) => match call(h, Command::PartnerList)? {
            Answer::Partners(partners) => partners,
            _ => return Err(unexpected()),
        },
        None => Vec::new(),
    };
    let mut cards = Vec::new();
    for path in &args.cards {
        let card = node::card::NodeCard::parse(&read(path)?)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        cards.push(card);
    }
    let mut failed = 0;
    for (i, doc) in docs.iter().enumerate() {
        let id = FootprintId::deserialize(doc).map_or_else(|_| "?".to_string(), |f| f.id);
        let checked = node::signed::verify_document(doc).and_then(|sig| {
            if cards.is_empty() {
                return Ok(sig);
            }
            signed_by_card(&cards, &sig).map(|()| sig)
        });
        match checked {
            Ok(sig) => {
                let known = partners
                    .iter()
                    .find(|p| p.card.public_key_by_id(&sig.key_id) == Some(&sig.public_key))
                    .map(|p| format!(", key of known partner {}", p.card.company_id))
                    .unwrap_or_default();
                println!(
                    "ok    [{i}] {id}: {} view signed by {} (key {}){known}",
                    sig.view, sig.company_id, sig.key_id
                );
            }
            Err(e) => {
                failed += 1;
                println!("FAIL  [{i}] {id}: {e}");
            }
        }
    }
    if failed > 0 {
        eprintln!(
            "tanso: {failed} of {} footprints failed verification",
            docs.len()
        );
        return Ok(ExitCode::FAILURE);
    }
    println!("all {} footprints verified", docs.len());
    Ok(ExitCode::SUCCESS)
}

/// The id of a footprint document, for naming it in `verify`'s report.
#[derive(serde::Deserialize)]
struct FootprintId {
    id: String,
}

/// Whether `sig` is by the current or a retired key of its company's card among `cards`.
fn signed_by_card(
    cards: &[node::card::NodeCard],
    sig: &node::store::SigRecord,
) -> Result<(), node::signed::SignedError> {
    let Some(card) = cards
        .iter()
        .find(|c| c.company_id.eq_ignore_ascii_case(&sig.company_id))
    else {
        return Err(node::signed::SignedError::Malformed(format!(
            "no card given for the signing company {}",
            sig.company_id
        )));
    };
    match card.public_key_by_id(&sig.key_id) {
        Some(public) if public == sig.public_key => Ok(()),
        _ => Err(node::signed::SignedError::Malformed(format!(
            "key {} is neither the current nor a retired key on the card of {}",
            sig.key_id, card.company_id
        ))),
    }
}

/// `tanso key encrypt`: encrypts the key file of a stopped node.
fn store_migrate(home_dir: &Path, to: &str) -> Result<ExitCode> {
    let home = open_home(home_dir);
    if !home.exists() {
        bail!(
            "{} is not a tanso home (no config.toml); run `tanso init` first",
            home_dir.display()
        );
    }
    let running = runtime()?.block_on(admin::call(&home.admin_socket(), &Command::Id));
    if running.is_some() {
        bail!("a node is serving {}; stop it first", home_dir.display());
    }
    let to: node::store::EngineKind = to.parse()?;
    let report = node::migrate::migrate_store(&home, to)?;
    for table in report.tables.iter().filter(|t| t.entries > 0) {
        println!("{:<32} {:>10} entries", table.table, table.entries);
    }
    println!(
        "migrated the store from {} to {}: every table compared, audit chain verified ({} entries); config.toml now says engine = \"{}\"",
        report.from, report.to, report.audit_entries, report.to
    );
    println!(
        "the old {} store is at {} (delete it when satisfied)",
        report.from, report.old_store
    );
    Ok(ExitCode::SUCCESS)
}

/// The passphrase of `--passphrase-file` or TANSO_KEY_PASSPHRASE, which a bundle's node key
/// is encrypted under.
fn bundle_passphrase() -> Result<node::home::Passphrase> {
    match PASSPHRASE
        .get()
        .cloned()
        .or_else(node::home::Passphrase::from_env)
    {
        Some(pass) if !pass.is_empty() => Ok(pass),
        _ => bail!(
            "a home bundle's node key is encrypted under a passphrase: set TANSO_KEY_PASSPHRASE or pass --passphrase-file"
        ),
    }
}

fn home_export(home_dir: &Path, out: &Path) -> Result<ExitCode> {
    let home = open_home(home_dir);
    let pass = bundle_passphrase()?;
    let summary = node::bundle::export(&home, out, &pass, chrono::Utc::now())?;
    println!(
        "exported {} (key {}, {} store, {} files, {} bytes) to {}",
        summary.company_id,
        summary.key_id,
        summary.engine,
        summary.files,
        summary.bytes,
        summary.bundle
    );
    for path in &summary.not_included {
        println!("not included (outside the home, named by config.toml): {path}");
    }
    println!(
        "import it with `tanso home import --bundle {} --home DIR` and the same passphrase",
        summary.bundle
    );
    Ok(ExitCode::SUCCESS)
}

fn home_import(bundle: &Path, home_dir: &Path) -> Result<ExitCode> {
    let pass = bundle_passphrase()?;
    let home = open_home(home_dir);
    let summary = node::bundle::import(bundle, &home, &pass, None)?;
    println!(
        "imported {} (key {}, exported {}, {} store, {} files, {} bytes) into {}",
        summary.company_id,
        summary.key_id,
        summary.exported_at,
        summary.engine,
        summary.files,
        summary.bytes,
        summary.home
    );
    if !summary.tls_identity {
        home.create_identity()
            .context("creating the home's TLS identity")?;
        println!("the bundle carried no TLS identity: made a new self-signed certificate");
    }
    println!(
        "the node key stays encrypted under the same passphrase; check `listen`/`advertise` in config.toml, then `tanso serve` announces the new card to partners"
    );
    Ok(ExitCode::SUCCESS)
}

fn key_encrypt(home_dir: &Path) -> Result<ExitCode> {
    let home = open_home(home_dir);
    if !home.exists() {
        bail!(
            "{} is not a tanso home (no config.toml); run `tanso init` first",
            home_dir.display()
        );
    }
    let running = runtime()?.block_on(admin::call(&home.admin_socket(), &Command::Id));
    if running.is_some() {
        bail!("a node is serving {}; stop it first", home_dir.display());
    }
    let pass = PASSPHRASE
        .get()
        .cloned()
        .or_else(node::home::Passphrase::from_env)
        .ok_or_else(|| {
            node::home::HomeError::PassphraseMissing(home.key_path().display().to_string())
        })?;
    let key_id = home.encrypt_key(&pass)?;
    println!(
        "encrypted the key {key_id} in {}; give the passphrase to `tanso serve` with TANSO_KEY_PASSPHRASE or --passphrase-file",
        home.key_path().display()
    );
    Ok(ExitCode::SUCCESS)
}
