//! The host's admin socket (`<host home>/admin.sock`, mode 0600): tenant administration and
//! every node command on one tenant ([`HostCommand::Node`]), in the versioned framing of
//! `tanso_core::admin_socket`. The CLI runs the same operations in-process when no host
//! serves the home ([`execute`] either way).

use serde::{Deserialize, Serialize};

use crate::admin::{Answer, Command};

use super::home::{HostError, TenantEntry, TenantSpec, TenantState};
use super::tenants::{Host, TenantStatus};

/// A host operator command.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum HostCommand {
    TenantAdd {
        spec: TenantSpec,
    },
    TenantList,
    TenantSuspend {
        tenant: String,
    },
    TenantResume {
        tenant: String,
    },
    TenantRemove {
        tenant: String,
    },
    /// Writes the tenant as a signed home bundle to `out` (a path on the host's machine).
    TenantExport {
        tenant: String,
        out: std::path::PathBuf,
        passphrase: Secret,
    },
    /// Imports a signed home bundle (a path on the host's machine) as a new tenant.
    TenantImport {
        bundle: std::path::PathBuf,
        passphrase: Secret,
        #[serde(default)]
        slug: Option<String>,
    },
    /// A node command run on one tenant (company id or slug).
    Node {
        tenant: String,
        command: Command,
    },
}

/// A passphrase carried over the admin socket (a unix socket of mode 0600): never shown by
/// `Debug`, never logged.
#[derive(Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl Secret {
    fn passphrase(&self) -> tanso_core::home::Passphrase {
        tanso_core::home::Passphrase::new(self.0.as_bytes().to_vec())
    }
}

/// The answer to a [`HostCommand`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(
    clippy::large_enum_variant,
    reason = "one answer per command, moved once"
)]
pub enum HostAnswer {
    Tenant(TenantEntry),
    Tenants(Vec<TenantStatus>),
    Node(Answer),
    Exported(tanso_core::bundle::ExportSummary),
}

/// Why a host command failed.
#[derive(Debug, thiserror::Error)]
pub enum HostCommandError {
    #[error(transparent)]
    Host(#[from] HostError),
    #[error(transparent)]
    Node(#[from] tanso_core::NodeError),
}

/// Runs `command` on `host`.
pub async fn execute(host: &Host, command: HostCommand) -> Result<HostAnswer, HostCommandError> {
    Ok(match command {
        HostCommand::TenantAdd { spec } => HostAnswer::Tenant(host.add(spec).await?),
        HostCommand::TenantList => HostAnswer::Tenants(host.list().await),
        HostCommand::TenantSuspend { tenant } => {
            HostAnswer::Tenant(host.set_state(&tenant, TenantState::Suspended).await?)
        }
        HostCommand::TenantResume { tenant } => {
            HostAnswer::Tenant(host.set_state(&tenant, TenantState::Active).await?)
        }
        HostCommand::TenantRemove { tenant } => HostAnswer::Tenant(host.remove(&tenant).await?),
        HostCommand::TenantExport {
            tenant,
            out,
            passphrase,
        } => HostAnswer::Exported(host.export(&tenant, out, passphrase.passphrase()).await?),
        HostCommand::TenantImport {
            bundle,
            passphrase,
            slug,
        } => HostAnswer::Tenant(host.import(bundle, passphrase.passphrase(), slug).await?),
        HostCommand::Node { tenant, command } => {
            let lease = host.operate(&tenant).await?;
            let answer = crate::admin::execute(lease.node(), command).await?;
            HostAnswer::Node(answer)
        }
    })
}

/// Serves the host's admin socket until cancelled.
pub async fn serve(
    host: Host,
    listener: tokio::net::UnixListener,
    cancel: tokio_util::sync::CancellationToken,
) {
    tanso_core::admin_socket::serve_json(listener, cancel, move |command: HostCommand| {
        let host = host.clone();
        async move { execute(&host, command).await.map_err(|e| e.to_string()) }
    })
    .await;
}

/// Sends a command to a running host; `None` when no host listens on `path`.
pub async fn call(
    path: &std::path::Path,
    command: &HostCommand,
) -> Option<Result<HostAnswer, crate::admin::AdminError>> {
    tanso_core::admin_socket::call_json(path, command).await
}
