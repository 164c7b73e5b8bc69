//! `tanso dashboard user add`: dashboard users (argon2 hashes in `<home>/dashboard-users.json`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use clap::{Args, Subcommand};
use node::dashboard::Role;

/// `tanso dashboard …`
#[derive(Debug, Subcommand)]
pub(crate) enum DashboardCmd {
    /// Manage the users who may log in to the web dashboard.
    #[command(subcommand)]
    User(UserCmd),
}

/// `tanso dashboard user …`
#[derive(Debug, Subcommand)]
pub(crate) enum UserCmd {
    /// Add a user with a generated password, printed once (only its hash is stored).
    Add(UserAddArgs),
}

/// Arguments of `tanso dashboard user add`.
#[derive(Debug, Args)]
pub(crate) struct UserAddArgs {
    /// The node's home directory.
    #[arg(long, env = "TANSO_HOME", default_value = ".tanso")]
    home: PathBuf,
    /// The user's login name.
    #[arg(long)]
    name: String,
    /// admin (may also deprecate footprints) or viewer (read-only).
    #[arg(long, default_value = "viewer", value_parser = ["admin", "viewer"])]
    role: String,
}

/// Runs a `tanso dashboard` command. Works whether or not the node runs (the node reads the
/// users file at each login).
pub(crate) fn run(cmd: DashboardCmd) -> Result<ExitCode> {
    match cmd {
        DashboardCmd::User(UserCmd::Add(args)) => {
            let role: Role = args.role.parse()?;
            let home = crate::cmd::node_home(&args.home)?;
            let password = node::dashboard::add_user(&home, &args.name, role)
                .with_context(|| format!("adding dashboard user {:?}", args.name))?;
            eprintln!(
                "added dashboard user {:?} ({}); the password is shown only now:",
                args.name,
                role.as_str()
            );
            println!("{password}");
            Ok(ExitCode::SUCCESS)
        }
    }
}
