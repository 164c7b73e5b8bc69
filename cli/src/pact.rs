//! `tanso pact …`: PACT OAuth clients of this node (`client add`, keyed hashes in
//! `<home>/pact-clients.json`), PACT hosts this node calls (`host add`, for the answers to
//! requests that came in over PACT), `pull` and `request`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use clap::{Args, Subcommand};
use node::pact_api::trust::TrustSpec;

/// `tanso pact …`
#[derive(Debug, Subcommand)]
pub(crate) enum PactCmd {
    /// Manage the OAuth clients that may call this node's PACT API.
    #[command(subcommand)]
    Client(ClientCmd),
    /// Register the PACT host of a company this node calls as a client (answers to the
    /// requests that company sends over PACT go to its host's /3/events).
    #[command(subcommand)]
    Host(HostCmd),
    /// Pull footprints from a PACT v3 host into the inbox (provenance "pact:URL").
    Pull(PullArgs),
    /// Ask a PACT v3 host for footprints (a RequestCreated event); the answer arrives on this
    /// node's /3/events and shows in `tanso request list/show` and the inbox.
    Request(RequestArgs),
}

/// How a host's TLS certificate is checked. Without any of these: against the web PKI
/// roots (the Mozilla root programme, built in), with the URL's host name.
#[derive(Debug, Args)]
pub(crate) struct Pin {
    /// SHA-256 fingerprint (hex) of the host's TLS certificate, pinned (name not checked).
    #[arg(long, conflicts_with_all = ["partner", "ca"])]
    fingerprint: Option<String>,
    /// Pin the TLS certificate on this partner's card instead (a tanso host serves PACT with
    /// its node certificate unless it has `[pact] tls_cert`).
    #[arg(long, conflicts_with = "ca")]
    partner: Option<String>,
    /// PEM file of a private CA the host's certificate chains to (name checked).
    #[arg(long, value_name = "FILE")]
    ca: Option<PathBuf>,
}

/// `tanso pact host …`
#[derive(Debug, Subcommand)]
pub(crate) enum HostCmd {
    /// Register (or replace) a company's PACT host and the client credentials it issued to
    /// this node.
    Add(HostAddArgs),
    /// List registered hosts (secrets are not shown).
    List {
        /// The node's home directory.
        #[arg(long, env = "TANSO_HOME", default_value = ".tanso")]
        home: PathBuf,
    },
}

/// Arguments of `tanso pact host add`.
#[derive(Debug, Args)]
pub(crate) struct HostAddArgs {
    /// The node's home directory.
    #[arg(long, env = "TANSO_HOME", default_value = ".tanso")]
    home: PathBuf,
    /// The company whose host this is (its PACT client on this node has this company id).
    #[arg(long)]
    company_id: String,
    /// The host's base URL (https://host:port).
    #[arg(long)]
    url: String,
    #[command(flatten)]
    pin: Pin,
    /// The client id that host issued to this node.
    #[arg(long, allow_hyphen_values = true)]
    client_id: String,
    /// The client secret that host issued (prefer the TANSO_PACT_SECRET environment variable).
    #[arg(
        long,
        env = "TANSO_PACT_SECRET",
        hide_env_values = true,
        allow_hyphen_values = true
    )]
    client_secret: String,
}

/// Arguments of `tanso pact request`.
#[derive(Debug, Args)]
pub(crate) struct RequestArgs {
    /// The node's home directory.
    #[arg(long, env = "TANSO_HOME", default_value = ".tanso")]
    home: PathBuf,
    /// The host's base URL (https://host:port).
    #[arg(long)]
    url: String,
    #[command(flatten)]
    pin: Pin,
    #[arg(long, allow_hyphen_values = true)]
    client_id: String,
    /// The client secret (prefer the TANSO_PACT_SECRET environment variable).
    #[arg(
        long,
        env = "TANSO_PACT_SECRET",
        hide_env_values = true,
        allow_hyphen_values = true
    )]
    client_secret: String,
    /// The supplier's company id: only its PACT client on this node may answer. Without it,
    /// any PACT client of this node that knows the request's event id may.
    #[arg(long)]
    company_id: Option<String>,
    /// productId asked for (repeatable).
    #[arg(long = "product-id")]
    product_ids: Vec<String>,
    /// classification asked for (repeatable).
    #[arg(long = "classification")]
    classifications: Vec<String>,
    /// Free-text comment for the supplier.
    #[arg(long, default_value = "")]
    comment: String,
}

/// Arguments of `tanso pact pull`.
#[derive(Debug, Args)]
pub(crate) struct PullArgs {
    /// The node's home directory.
    #[arg(long, env = "TANSO_HOME", default_value = ".tanso")]
    home: PathBuf,
    /// The host's base URL (https://host:port).
    #[arg(long)]
    url: String,
    #[command(flatten)]
    pin: Pin,
    #[arg(long, allow_hyphen_values = true)]
    client_id: String,
    /// The client secret (prefer the TANSO_PACT_SECRET environment variable).
    #[arg(
        long,
        env = "TANSO_PACT_SECRET",
        hide_env_values = true,
        allow_hyphen_values = true
    )]
    client_secret: String,
    /// productId filter (repeatable).
    #[arg(long = "product-id")]
    product_ids: Vec<String>,
    /// classification filter (repeatable).
    #[arg(long = "classification")]
    classifications: Vec<String>,
    /// Page size asked of the host.
    #[arg(long)]
    limit: Option<u32>,
}

/// `tanso pact client …`
#[derive(Debug, Subcommand)]
pub(crate) enum ClientCmd {
    /// Add a client for a company; prints its id and secret once (only a keyed hash is
    /// stored).
    Add(ClientAddArgs),
}

/// Arguments of `tanso pact client add`.
#[derive(Debug, Args)]
pub(crate) struct ClientAddArgs {
    /// The node's home directory.
    #[arg(long, env = "TANSO_HOME", default_value = ".tanso")]
    home: PathBuf,
    /// The company the client acts for (policies and the audit log see this id).
    #[arg(long)]
    company_id: String,
    /// Policy group of the client (repeatable).
    #[arg(long = "group")]
    groups: Vec<String>,
}

/// Runs a `tanso pact` command. Works whether or not the node runs (the node reads the
/// clients file at each token request).
pub(crate) fn run(cmd: PactCmd) -> Result<ExitCode> {
    match cmd {
        PactCmd::Client(ClientCmd::Add(args)) => {
            let home = crate::cmd::node_home(&args.home)?;
            let (id, secret) = node::pact_api::add_client(&home, &args.company_id, args.groups)
                .with_context(|| format!("adding a pact client for {:?}", args.company_id))?;
            eprintln!(
                "added pact client for {}; the secret is shown only now:",
                args.company_id
            );
            println!("client_id={id}");
            println!("client_secret={secret}");
            Ok(ExitCode::SUCCESS)
        }
        PactCmd::Host(HostCmd::Add(args)) => {
            let trust = trust(&args.home, args.pin)?
                .resolve()
                .context("the host's tls trust")?;
            let home = crate::cmd::node_home(&args.home)?;
            let record = node::pact_api::hosts::add_host(
                &home,
                &args.company_id,
                &args.url,
                &args.client_id,
                &args.client_secret,
                &trust,
            )
            .with_context(|| format!("adding the pact host of {:?}", args.company_id))?;
            eprintln!(
                "pact host of {} is {} ({})",
                record.company_id,
                record.url,
                trust.describe()
            );
            Ok(ExitCode::SUCCESS)
        }
        PactCmd::Host(HostCmd::List { home }) => {
            let hosts = node::pact_api::hosts::list_hosts(&crate::cmd::node_home(&home)?)?;
            let out: Vec<HostSummary> = hosts
                .into_iter()
                .map(|h| {
                    let tls = match h.trust() {
                        Ok(t) => t.describe(),
                        Err(e) => format!("unusable: {e}"),
                    };
                    HostSummary {
                        company_id: h.company_id,
                        url: h.url,
                        client_id: h.client_id,
                        fingerprint: h.fingerprint,
                        tls,
                        created_at: h.created_at,
                    }
                })
                .collect();
            crate::cmd::print_json(&out)?;
            Ok(ExitCode::SUCCESS)
        }
        PactCmd::Pull(args) => pull(args),
        PactCmd::Request(args) => request(args),
    }
}

/// A registered host as `tanso pact host list` prints it (no secret).
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct HostSummary {
    company_id: String,
    url: String,
    client_id: String,
    fingerprint: Option<String>,
    /// How its certificate is checked.
    tls: String,
    created_at: String,
}

/// How the host's certificate is checked: a fingerprint given or taken from a partner's
/// card, a CA file, or (none of them) the web PKI.
fn trust(home: &std::path::Path, pin: Pin) -> Result<TrustSpec> {
    if let Some(path) = &pin.ca {
        let pem = std::fs::read_to_string(path)
            .with_context(|| format!("reading the ca file {}", path.display()))?;
        return Ok(TrustSpec {
            fingerprint: None,
            ca_pem: Some(pem),
        });
    }
    let fingerprint = match (pin.fingerprint, &pin.partner) {
        (Some(f), _) => Some(f),
        (None, Some(partner)) => {
            let node::admin::Answer::Partners(partners) =
                crate::cmd::call(home, node::admin::Command::PartnerList)?
            else {
                return Err(crate::cmd::unexpected());
            };
            partners
                .into_iter()
                .find(|p| p.card.company_id == *partner)
                .map(|p| Some(p.card.tls_fingerprint))
                .with_context(|| format!("no partner {partner:?} with a tls fingerprint"))?
        }
        (None, None) => None,
    };
    Ok(TrustSpec {
        fingerprint,
        ca_pem: None,
    })
}

fn request(args: RequestArgs) -> Result<ExitCode> {
    let trust = trust(&args.home, args.pin)?;
    crate::cmd::print(
        &args.home,
        node::admin::Command::PactRequest {
            base: args.url,
            trust,
            client_id: args.client_id,
            client_secret: args.client_secret,
            company_id: args.company_id,
            product_ids: args.product_ids,
            classifications: args.classifications,
            comment: args.comment,
        },
    )
}

fn pull(args: PullArgs) -> Result<ExitCode> {
    let trust = trust(&args.home, args.pin)?;
    let mut query: Vec<(String, String)> = Vec::new();
    query.extend(
        args.product_ids
            .into_iter()
            .map(|p| ("productId".into(), p)),
    );
    query.extend(
        args.classifications
            .into_iter()
            .map(|c| ("classification".into(), c)),
    );
    if let Some(l) = args.limit {
        query.push(("limit".into(), l.to_string()));
    }
    crate::cmd::print(
        &args.home,
        node::admin::Command::PactPull {
            base: args.url,
            trust,
            client_id: args.client_id,
            client_secret: args.client_secret,
            query,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Pact {
        #[command(subcommand)]
        cmd: PactCmd,
    }

    /// Secrets and client ids are base64url: one in 64 begins with '-', which must still be a
    /// value, not taken for a flag.
    #[test]
    fn a_secret_or_client_id_that_begins_with_a_hyphen_is_a_value() {
        let common = [
            "--url",
            "https://h:1",
            "--client-id",
            "-id",
            "--client-secret",
        ];
        let parse = |sub: &[&str]| {
            let mut argv = vec!["pact"];
            argv.extend_from_slice(sub);
            argv.extend_from_slice(&common);
            argv.push("-Gx-y");
            Pact::try_parse_from(argv).map_err(|e| e.to_string())
        };
        match parse(&["pull"]).expect("pull").cmd {
            PactCmd::Pull(a) => assert_eq!(
                (a.client_id, a.client_secret),
                ("-id".into(), "-Gx-y".into())
            ),
            other => panic!("{other:?}"),
        }
        match parse(&["request"]).expect("request").cmd {
            PactCmd::Request(a) => assert_eq!(
                (a.client_id, a.client_secret),
                ("-id".into(), "-Gx-y".into())
            ),
            other => panic!("{other:?}"),
        }
        match parse(&["host", "add", "--company-id", "c"])
            .expect("host add")
            .cmd
        {
            PactCmd::Host(HostCmd::Add(a)) => assert_eq!(
                (a.client_id, a.client_secret),
                ("-id".into(), "-Gx-y".into())
            ),
            other => panic!("{other:?}"),
        }
        // The flags after it are still flags.
        let argv = [
            "pact",
            "pull",
            "--client-secret",
            "-s",
            "--limit",
            "5",
            "--url",
            "u",
        ];
        match Pact::try_parse_from(argv.iter().chain(&["--client-id", "i"])).map(|p| p.cmd) {
            Ok(PactCmd::Pull(a)) => assert_eq!((a.client_secret, a.limit), ("-s".into(), Some(5))),
            other => panic!("{other:?}"),
        }
    }
}
