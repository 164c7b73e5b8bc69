//! `tanso pact client add`: PACT OAuth clients (argon2 hashes in `<home>/pact-clients.json`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use clap::{Args, Subcommand};
use node::home::Home;

/// `tanso pact …`
#[derive(Debug, Subcommand)]
pub(crate) enum PactCmd {
    /// Manage the OAuth clients that may call this node's PACT API.
    #[command(subcommand)]
    Client(ClientCmd),
    /// Pull footprints from a PACT v3 host into the inbox (provenance "pact:URL").
    Pull(PullArgs),
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
    /// SHA-256 fingerprint (hex) of the host's TLS certificate, pinned.
    #[arg(long, required_unless_present = "partner")]
    fingerprint: Option<String>,
    /// Pin the TLS certificate on this partner's card instead (a tanso host serves PACT with
    /// its node certificate).
    #[arg(long, conflicts_with = "fingerprint")]
    partner: Option<String>,
    #[arg(long)]
    client_id: String,
    /// The client secret (prefer the TANSO_PACT_SECRET environment variable).
    #[arg(long, env = "TANSO_PACT_SECRET", hide_env_values = true)]
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
    /// Add a client for a company; prints its id and secret once (only a hash is stored).
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
            let home = Home::new(&args.home);
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
        PactCmd::Pull(args) => pull(args),
    }
}

fn pull(args: PullArgs) -> Result<ExitCode> {
    let fingerprint = match (args.fingerprint, &args.partner) {
        (Some(f), _) => f,
        (None, Some(partner)) => {
            let cards = crate::cmd::call(&args.home, node::admin::Command::PartnerList)?;
            cards
                .as_array()
                .into_iter()
                .flatten()
                .find(|p| p["card"]["companyId"].as_str() == Some(partner.as_str()))
                .and_then(|p| p["card"]["tlsFingerprint"].as_str().map(str::to_string))
                .with_context(|| format!("no partner {partner:?} with a tls fingerprint"))?
        }
        (None, None) => anyhow::bail!("--fingerprint or --partner is required"),
    };
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
    let out = crate::cmd::call(
        &args.home,
        node::admin::Command::PactPull {
            base: args.url,
            fingerprint,
            client_id: args.client_id,
            client_secret: args.client_secret,
            query,
        },
    )?;
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(ExitCode::SUCCESS)
}
