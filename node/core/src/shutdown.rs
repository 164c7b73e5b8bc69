//! The shutdown signal: one future for SIGINT and SIGTERM (SIGTERM is what systemd and
//! Kubernetes send before killing a process).

use std::future::Future;

/// Installs the SIGINT and SIGTERM handlers now and returns a future that completes on the
/// first of them. Call it (inside the runtime) before anything is bound or announced: a
/// signal that arrives between an announcement and the first poll would otherwise meet
/// the default action and kill the process without a drain.
pub fn signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let int = signal(SignalKind::interrupt());
        let term = signal(SignalKind::terminate());
        if let Err(e) = int.as_ref().and(term.as_ref()) {
            tracing::warn!(error = %e, "cannot install the SIGINT/SIGTERM handlers");
        }
        async move {
            let wait = |s: std::io::Result<tokio::signal::unix::Signal>| async move {
                match s {
                    Ok(mut s) => {
                        s.recv().await;
                    }
                    Err(_) => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = wait(int) => {}
                () = wait(term) => {}
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
