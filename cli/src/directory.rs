//! `tanso directory …`: run an association's directory, and use directories from a node.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use clap::{Args, Subcommand};
use node::admin::Command;
use node::directory::client::JoinFacts;
use node::directory::{DirAnswer, DirCommand, RawDirectoryConfig, server};
use node::home::Home;

/// `tanso directory …`
#[derive(Debug, Subcommand)]
pub(crate) enum DirectoryCmd {
    /// Create a directory home: association key, self-signed TLS certificate, store.
    Init(InitArgs),
    /// Run the directory until SIGINT/SIGTERM.
    Serve(DirHome),
    /// Print the directory card (JSON: key, endpoint, TLS fingerprint) for members to pin.
    Card(DirHome),
    /// Approve a company's application; issues its membership credential.
    Approve {
        #[command(flatten)]
        home: DirHome,
        /// The applicant's company id.
        company_id: String,
    },
    /// Revoke a member: its company id goes on the signed status list.
    Revoke {
        #[command(flatten)]
        home: DirHome,
        /// The member's company id.
        company_id: String,
    },
    /// Members and applicants (identifiers only).
    Members(DirHome),
    /// On a node: pin a directory card (several directories may be trusted).
    Trust {
        #[command(flatten)]
        home: NodeHome,
        /// The directory card (from `tanso directory card`).
        card: PathBuf,
    },
    /// On a node: apply to every trusted directory (again, to fetch the credential or to
    /// replace it after the card changed).
    Join(JoinArgs),
    /// On a node: trusted directories, this node's credentials, status lists.
    Status(NodeHome),
    /// On a node: discover members by company id, product id or classification.
    Find(FindArgs),
}

#[derive(Debug, Args)]
pub(crate) struct DirHome {
    /// The directory's home directory.
    #[arg(long)]
    home: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct NodeHome {
    /// The node's home directory.
    #[arg(long, env = "TANSO_HOME", default_value = ".tanso")]
    home: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct InitArgs {
    #[command(flatten)]
    home: DirHome,
    /// The association's name.
    #[arg(long)]
    name: String,
    /// Where to serve members (ip:port).
    #[arg(long)]
    listen: String,
    /// The association's id (a URN); defaults to urn:tanso:association:<name, slugged>.
    #[arg(long)]
    association_id: Option<String>,
    /// Approve every well-formed application at once.
    #[arg(long)]
    auto_approve: bool,
    /// Endpoint to advertise in the card (defaults to the bound listen address).
    #[arg(long)]
    advertise: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct JoinArgs {
    #[command(flatten)]
    home: NodeHome,
    /// A product id this company supplies (repeatable).
    #[arg(long = "supplies-product")]
    supplies_products: Vec<String>,
    /// A classification code (CPC, HS, …) of what this company supplies (repeatable).
    #[arg(long = "supplies-classification")]
    supplies_classifications: Vec<String>,
    /// A classification code this company buys (repeatable).
    #[arg(long = "buys-classification")]
    buys_classifications: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct FindArgs {
    #[command(flatten)]
    home: NodeHome,
    #[arg(long, conflicts_with_all = ["product", "classification"])]
    company: Option<String>,
    #[arg(long, conflicts_with_all = ["company", "classification"])]
    product: Option<String>,
    #[arg(long, conflicts_with_all = ["company", "product"])]
    classification: Option<String>,
}

/// Runs a `tanso directory` command.
pub(crate) fn run(cmd: DirectoryCmd) -> Result<ExitCode> {
    match cmd {
        DirectoryCmd::Init(args) => init(args),
        DirectoryCmd::Serve(h) => serve(h.home),
        DirectoryCmd::Card(h) => dir_print(h.home, DirCommand::Card),
        DirectoryCmd::Approve { home, company_id } => {
            dir_print(home.home, DirCommand::Approve { company_id })
        }
        DirectoryCmd::Revoke { home, company_id } => {
            dir_print(home.home, DirCommand::Revoke { company_id })
        }
        DirectoryCmd::Members(h) => dir_print(h.home, DirCommand::Members),
        DirectoryCmd::Trust { home, card } => {
            let card = crate::cmd::read(&card)?;
            node_print(home.home, Command::DirectoryTrust { card })
        }
        DirectoryCmd::Join(args) => {
            let given = !(args.supplies_products.is_empty()
                && args.supplies_classifications.is_empty()
                && args.buys_classifications.is_empty());
            let facts = given.then_some(JoinFacts {
                supplies_products: args.supplies_products,
                supplies_classifications: args.supplies_classifications,
                buys_classifications: args.buys_classifications,
            });
            node_print(args.home.home, Command::DirectoryJoin { facts })
        }
        DirectoryCmd::Status(h) => node_print(h.home, Command::DirectoryList),
        DirectoryCmd::Find(args) => node_print(
            args.home.home,
            Command::DirectoryFind {
                company_id: args.company,
                product_id: args.product,
                classification: args.classification,
            },
        ),
    }
}

fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_string()
}

fn init(args: InitArgs) -> Result<ExitCode> {
    let association_id = args
        .association_id
        .unwrap_or_else(|| format!("urn:tanso:association:{}", slug(&args.name)));
    let mut raw = RawDirectoryConfig::new(&association_id, &args.name, &args.listen);
    raw.auto_approve = args.auto_approve;
    raw.advertise = args.advertise;
    let home = Home::new(&args.home.home);
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("reading OS randomness: {e}"))?;
    server::init(&home, &raw, &seed).map_err(|e| match e {
        node::directory::DirectoryError::Invalid { .. } => {
            anyhow::Error::new(crate::cmd::ConfigInvalid(e.to_string()))
        }
        other => other.into(),
    })?;
    println!(
        "directory {} ({association_id}) created in {}",
        args.name,
        args.home.home.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn serve(dir: PathBuf) -> Result<ExitCode> {
    let home = Home::new(&dir);
    let config = match server::load_config(&home) {
        Ok(c) => c,
        Err(e @ node::directory::DirectoryError::Invalid { .. })
        | Err(e @ node::directory::DirectoryError::Config { .. }) => {
            return Err(anyhow::Error::new(crate::cmd::ConfigInvalid(e.to_string())));
        }
        Err(e) => return Err(e.into()),
    };
    crate::cmd::init_logging(false, "info");
    crate::cmd::runtime()?.block_on(async move {
        // Handlers first: a signal after the bound address is announced drains.
        let shutdown = node::shutdown::signal();
        let directory = node::directory::Directory::open(&home)?;
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("binding {}", config.listen))?;
        let admin = server::bind_admin(&home)?;
        server::run(directory, listener, admin, shutdown).await?;
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}

fn dir_print(dir: PathBuf, command: DirCommand) -> Result<ExitCode> {
    let home = Home::new(&dir);
    match crate::cmd::runtime()?.block_on(server::call(&home, command))? {
        DirAnswer::Card(card) => crate::cmd::print_json(&card)?,
        DirAnswer::Credential(credential) => crate::cmd::print_json(&credential)?,
        DirAnswer::StatusList(list) => crate::cmd::print_json(&list)?,
        DirAnswer::Members(members) => crate::cmd::print_json(&members)?,
    }
    Ok(ExitCode::SUCCESS)
}

fn node_print(home: PathBuf, command: Command) -> Result<ExitCode> {
    crate::cmd::print(&home, command)
}
