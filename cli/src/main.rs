//! tanso: the one binary. Parses arguments, sets up logging, and hands off to the `node` library.
//!
//! Exit codes: 0 success, 1 the operation failed, 2 usage error (clap), 64 invalid
//! configuration detected before anything was bound, 77 the node key is encrypted and the
//! passphrase is missing or wrong.

mod calc;
mod cmd;
mod dashboard;
mod directory;
mod pact;
mod relay;
mod telemetry;

use std::process::ExitCode;

use clap::Parser;

// The allocator: jemalloc, tuned. Under the steady soak (node/examples/soak.rs) the node's live
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
    telemetry::export_allocator_stats();
    let cli = cmd::Cli::parse();
    match cmd::run(cli) {
        Ok(code) => code,
        Err(err) => {
            if let Some(io) = err.downcast_ref::<std::io::Error>()
                && io.kind() == std::io::ErrorKind::BrokenPipe
            {
                return ExitCode::SUCCESS;
            }
            eprintln!("tanso: {err:#}");
            if err.downcast_ref::<cmd::KeyLocked>().is_some() {
                return ExitCode::from(cmd::EXIT_KEY_LOCKED);
            }
            match err.downcast_ref::<cmd::ConfigInvalid>() {
                Some(_) => ExitCode::from(64),
                None => ExitCode::FAILURE,
            }
        }
    }
}

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
