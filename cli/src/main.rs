//! tanso: the one binary. Parses arguments, sets up logging, and hands off to the `node` library.
//!
//! Exit codes: 0 success, 1 the operation failed, 2 usage error (clap), 64 invalid
//! configuration detected before anything was bound (a bad or unreadable config, a file it
//! names missing, a key file or home directory others may write, a store on the other
//! engine), 75 a port to listen on is in use, 77 the node key is encrypted and the
//! passphrase is missing or wrong. 64 and 77 do not go away by restarting; 75 may.

mod calc;
mod cbam;
mod cmd;
mod dashboard;
mod directory;
mod host;
mod logistics;
mod pact;
mod progress;
mod relay;
mod telemetry;

use std::process::ExitCode;

use clap::Parser;

// The allocator: jemalloc, tuned. Under the steady soak (node/runtime/examples/soak.rs) the node's live
// heap levels off at about 22 MB, mostly the store's 16 MiB page cache, and under 1 MB is left
// at exit (heaptrack); what grows is memory the allocator keeps for reuse. glibc malloc's RSS
// climbed for the whole run; stock jemalloc (8 arenas on 2 cores, purging only when a thread
// next allocates in that arena) rose by 20-28 % over ten minutes; mimalloc swung by up to 25 %
// and idles at 30 MiB. With two arenas and jemalloc's background purging thread (the
// configuration here) RSS grew by +2.1 %, +3.8 % and +10.3 % in three quiet ten-minute runs,
// against +20.9 % and +23.3 % stock, peaking 30 MiB lower; idle RSS stays near 19 MiB.
// Figures in docs/performance.md. The options are compiled into jemalloc: the
// `background_threads` feature of tikv-jemallocator and `JEMALLOC_SYS_WITH_MALLOC_CONF =
// "narenas:2"` in .cargo/config.toml (the test below fails on a build without them);
// `_RJEM_MALLOC_CONF` still overrides them at run time. `--no-default-features` builds with
// glibc malloc, `--no-default-features --features mimalloc` with mimalloc.
#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[cfg(all(feature = "mimalloc", not(feature = "jemalloc")))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = cmd::Cli::parse();
    match cmd::run(cli) {
        Ok(code) => code,
        Err(err) => {
            if let Some(io) = err.downcast_ref::<std::io::Error>()
                && io.kind() == std::io::ErrorKind::BrokenPipe
            {
                return ExitCode::SUCCESS;
            }
            eprintln!("tanso: {}", render(&err));
            ExitCode::from(exit_code(&err))
        }
    }
}

/// The error and its causes joined by ": ", each said once: a cause whose text the message so
/// far already ends with (an error that shows its source in its own message) is skipped.
fn render(err: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if out.ends_with(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

/// The exit code of a failed command, decided here only (see the module doc).
fn exit_code(err: &anyhow::Error) -> u8 {
    for cause in err.chain() {
        if cause.downcast_ref::<cmd::KeyLocked>().is_some() {
            return cmd::EXIT_KEY_LOCKED;
        }
        if cause.downcast_ref::<cmd::ConfigInvalid>().is_some()
            || cause
                .downcast_ref::<node::NodeError>()
                .is_some_and(node::NodeError::is_config)
            || cause
                .downcast_ref::<node::home::HomeError>()
                .is_some_and(node::home::HomeError::is_config)
            || cause
                .downcast_ref::<node::store::StoreError>()
                .is_some_and(node::store::StoreError::is_config)
        {
            return EXIT_CONFIG;
        }
        if cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::AddrInUse)
        {
            return EXIT_PORT_IN_USE;
        }
    }
    1
}

/// A configuration problem found before anything was bound (sysexits EX_USAGE).
const EXIT_CONFIG: u8 = 64;
/// A port to listen on is in use (sysexits EX_TEMPFAIL: it may be free on a later start).
const EXIT_PORT_IN_USE: u8 = 75;

#[cfg(all(test, feature = "jemalloc"))]
mod tests {
    /// The allocator runs with the options the soak figures were measured with.
    #[test]
    fn jemalloc_runs_with_two_arenas_and_background_purging() {
        use tikv_jemalloc_ctl::opt;
        assert_eq!(opt::narenas::read().unwrap(), 2, "opt.narenas");
        assert!(
            opt::background_thread::read().unwrap(),
            "opt.background_thread"
        );
    }
}

#[cfg(test)]
mod render_tests {
    use anyhow::Context as _;

    /// An error whose message shows its source (and also names it as its source) is said
    /// once, not twice; an ordinary chain keeps every part.
    #[test]
    fn each_cause_is_said_once() {
        let io = std::io::Error::from(std::io::ErrorKind::NotFound);
        let home = node::home::HomeError::Io {
            path: "/x/config.toml".into(),
            source: io,
        };
        let err = Err::<(), _>(home).context("opening /x").unwrap_err();
        let text = super::render(&err);
        assert_eq!(text, "opening /x: /x/config.toml: entity not found");
        let plain = anyhow::anyhow!("inner").context("outer");
        assert_eq!(super::render(&plain), "outer: inner");
    }
}
