//! Bulk publish through the real binary: peak memory and rate of `tanso footprint publish`
//! for 100,000 and 1,000,000 footprints, against the signing rate measured in the same run.
//!
//! ```sh
//! cargo build --release --locked -p cli
//! cargo run --release --locked -p node --example bench_publish [-- --tanso PATH] [--sizes 100000,1000000] [--serve] [--engine sled]
//! ```
//!
//! For each size a JSONL file is generated (about 1 KB a footprint, like `bench_core` figure
//! 3) under `$CARGO_TARGET_DIR`'s `bench-publish/` (1,000,000 footprints take ~1 GB) and
//! deleted at the end. Each run gets a fresh home (redb unless `--engine sled`, default config) and runs
//! `tanso footprint publish --home HOME FILE` with no node serving it: the CLI process opens
//! the home and publishes. Its peak RSS is `VmHWM` read from `/proc/<pid>/status` every 10 ms
//! until it exits (the high-water mark, so the last reading holds the peak up to then).
//! With `--serve` the same file is also published through a running `tanso serve` (the
//! admin socket), and the node's `VmHWM` is read after the CLI returns.
//!
//! **Baseline:** both views of 100,000 of the same footprints built and signed
//! (`signed::view_json` + `signed::sign_view`) on one thread per core (at most 8), as in
//! `bench_core` figure 3. Printed: footprints/s of publish and of signing and their ratio.
//! Budgets (issue #16): peak RSS < 256 MiB for both sizes; publish / signing ≥ 0.6.
//! `--tanso PATH` measures another build (e.g. the one before streaming).

#[path = "support/fixture.rs"]
mod fixture;
use fixture::{bench_uuid, footprint, proc_status_kib};
use std::error::Error;
use std::hint::black_box;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use node::config::{RawConfig, RawLimits, RawLog, RawStore, RawTls};
use node::home::Home;
use node::pact::{self, ProductFootprint, ValidationContext};
use node::signed::{self, VIEW_FULL, VIEW_SUMMARY};

#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

type Res<T> = Result<T, Box<dyn Error + Send + Sync>>;

const OWNER: &str = "urn:tanso:company:bench-supplier";
/// Footprints signed for the baseline.
const BASELINE: usize = 100_000;
const RSS_BUDGET_MIB: f64 = 256.0;
const RATIO_BUDGET: f64 = 0.6;

struct Args {
    tanso: PathBuf,
    sizes: Vec<usize>,
    serve: bool,
    engine: String,
}

fn args() -> Res<Args> {
    let mut tanso = None;
    let mut sizes = vec![100_000, 1_000_000];
    let mut serve = false;
    let mut engine = "redb".to_string();
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--tanso" => tanso = it.next().map(PathBuf::from),
            "--sizes" => {
                sizes = it
                    .next()
                    .ok_or("--sizes wants a list")?
                    .split(',')
                    .map(|s| s.trim().replace('_', "").parse())
                    .collect::<Result<_, _>>()?;
            }
            "--serve" => serve = true,
            "--engine" => engine = it.next().ok_or("--engine wants redb or sled")?,
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let tanso = match tanso {
        Some(t) => t,
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/release/tanso"),
    };
    if !tanso.is_file() {
        return Err(format!(
            "{} not found: cargo build --release --locked -p cli",
            tanso.display()
        )
        .into());
    }
    Ok(Args {
        tanso,
        sizes,
        serve,
        engine,
    })
}

struct Run {
    size: usize,
    how: &'static str,
    seconds: f64,
    peak_kib: u64,
    cpu_seconds: f64,
}

fn main() -> Res<()> {
    let args = args()?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let work = target.join("bench-publish");
    std::fs::create_dir_all(&work)?;
    let scratch = tempfile::Builder::new().prefix("run-").tempdir_in(&work)?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "tanso bench_publish: {cores} cpu(s), binary {}, engine {}",
        args.tanso.display(),
        args.engine
    );
    println!("scratch: {}", scratch.path().display());
    println!("load average at start: {}", load_average());
    println!();

    let signing = signing_rate(scratch.path(), cores.min(8))?;
    println!(
        "baseline: {BASELINE} footprints signed (2 views) in {:.2} s on {} thread(s): {:.0}/s",
        BASELINE as f64 / signing,
        cores.min(8),
        signing
    );
    println!();

    let mut runs = Vec::new();
    for &size in &args.sizes {
        let file = scratch.path().join(format!("{size}.jsonl"));
        let bytes = write_jsonl(&file, size)?;
        println!("{size} footprints: {:.1} MiB of JSONL", mib(bytes));
        let run = publish_cli(&args.tanso, scratch.path(), &file, size, &args.engine)?;
        print_run(&run, signing);
        runs.push(run);
        if args.serve {
            let run = publish_served(&args.tanso, scratch.path(), &file, size, &args.engine)?;
            print_run(&run, signing);
            runs.push(run);
        }
        std::fs::remove_file(&file)?;
        println!();
    }

    println!("Summary (budgets from issue #16; figures only, nothing is asserted)");
    let mut budgets = Vec::new();
    for run in &runs {
        let label = match run.size {
            1_000_000 => "1m".to_string(),
            n if n % 1000 == 0 => format!("{}k", n / 1000),
            n => n.to_string(),
        };
        let peak = mib(run.peak_kib * 1024);
        let ratio = run.size as f64 / run.seconds / signing;
        println!(
            "  {:>9} {:<6} peak {:>8.1} MiB  {:>8.0} footprints/s  ratio {:.2}",
            run.size,
            run.how,
            peak,
            run.size as f64 / run.seconds,
            ratio
        );
        let verdict = |ok: bool| if ok { "PASS" } else { "MISS" };
        budgets.push(format!(
            "BUDGET publish_{}_rss_{label}_mib {peak:.1} <{RSS_BUDGET_MIB:.0} {}",
            run.how,
            verdict(peak < RSS_BUDGET_MIB)
        ));
        budgets.push(format!(
            "BUDGET publish_{}_ratio_{label} {ratio:.2} >={RATIO_BUDGET} {}",
            run.how,
            verdict(ratio >= RATIO_BUDGET)
        ));
    }
    for b in budgets {
        println!("{b}");
    }
    println!("load average at end: {}", load_average());
    Ok(())
}

fn print_run(run: &Run, signing: f64) {
    let rate = run.size as f64 / run.seconds;
    println!(
        "  {:<6} {:>7.2} s ({:>6.0}/s, {:.2} of signing), cpu {:.1} s, peak RSS {:.1} MiB",
        run.how,
        run.seconds,
        rate,
        rate / signing,
        run.cpu_seconds,
        mib(run.peak_kib * 1024)
    );
}

/// `tanso footprint publish` on a stopped home: the CLI process does everything.
fn publish_cli(tanso: &Path, scratch: &Path, file: &Path, size: usize, engine: &str) -> Res<Run> {
    let home = init(tanso, scratch, &format!("cli-{size}"), engine)?;
    let cpu0 = children_ticks();
    let t0 = Instant::now();
    let mut child = Command::new(tanso)
        .args(["footprint", "publish", "--home"])
        .arg(&home)
        .arg(file)
        .env("TANSO_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let pid = child.id();
    let ids = count_lines_while(&mut child, || {
        proc_status_kib(&format!("/proc/{pid}/status"), "VmHWM")
    });
    let (printed, peak_kib) = ids;
    let out = child.wait_with_output()?;
    let seconds = t0.elapsed().as_secs_f64();
    if !out.status.success() || printed != size {
        return Err(format!(
            "publish of {size} failed ({} ids printed): {}",
            printed,
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    let cpu_seconds = children_ticks().saturating_sub(cpu0) as f64 / 100.0;
    std::fs::remove_dir_all(&home)?;
    Ok(Run {
        size,
        how: "cli",
        seconds,
        peak_kib,
        cpu_seconds,
    })
}

/// The same through a running `tanso serve` (admin socket); the node's peak RSS.
fn publish_served(
    tanso: &Path,
    scratch: &Path,
    file: &Path,
    size: usize,
    engine: &str,
) -> Res<Run> {
    let home = init(tanso, scratch, &format!("serve-{size}"), engine)?;
    let mut node = Command::new(tanso)
        .args(["serve", "--home"])
        .arg(&home)
        .env("TANSO_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let socket = home.join("admin.sock");
    let t0 = Instant::now();
    while std::os::unix::net::UnixStream::connect(&socket).is_err() {
        if t0.elapsed() > Duration::from_secs(20) {
            let _ = node.kill();
            return Err("tanso serve did not come up".into());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let status = format!("/proc/{}/status", node.id());
    let node_cpu0 = proc_ticks(node.id());
    let t0 = Instant::now();
    let mut cli = Command::new(tanso)
        .args(["footprint", "publish", "--home"])
        .arg(&home)
        .arg(file)
        .env("TANSO_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let (printed, _) = count_lines_while(&mut cli, || None);
    let out = cli.wait_with_output()?;
    let seconds = t0.elapsed().as_secs_f64();
    let peak_kib = proc_status_kib(&status, "VmHWM").unwrap_or(0);
    let cpu_seconds = proc_ticks(node.id()).saturating_sub(node_cpu0) as f64 / 100.0;
    let _ = Command::new("kill")
        .args(["-TERM", &node.id().to_string()])
        .status();
    let _ = node.wait();
    if !out.status.success() || printed != size {
        return Err(format!(
            "served publish of {size} failed ({printed} ids printed): {}",
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    std::fs::remove_dir_all(&home)?;
    Ok(Run {
        size,
        how: "serve",
        seconds,
        peak_kib,
        cpu_seconds,
    })
}

/// Counts the lines `child` prints while sampling `peak` every 10 ms; returns the count and
/// the last sample.
fn count_lines_while(
    child: &mut std::process::Child,
    peak: impl Fn() -> Option<u64>,
) -> (usize, u64) {
    let stdout = child.stdout.take().expect("piped");
    let counter = std::thread::spawn(move || {
        use std::io::BufRead;
        std::io::BufReader::new(stdout).lines().count()
    });
    let mut last = 0;
    while !counter.is_finished() {
        if let Some(kib) = peak() {
            last = last.max(kib);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    (counter.join().unwrap_or(0), last)
}

fn init(tanso: &Path, scratch: &Path, name: &str, engine: &str) -> Res<PathBuf> {
    let home = scratch.join(name);
    let status = Command::new(tanso)
        .args(["init", "--home"])
        .arg(&home)
        .args([
            "--company-id",
            OWNER,
            "--name",
            "bench-supplier",
            "--listen",
            "127.0.0.1:0",
            "--engine",
            engine,
        ])
        .stdout(Stdio::null())
        .status()?;
    if !status.success() {
        return Err(format!("tanso init exited with {status}").into());
    }
    Ok(home)
}

fn write_jsonl(path: &Path, n: usize) -> Res<u64> {
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    for i in 0..n {
        serde_json::to_writer(&mut out, &footprint(OWNER, &bench_uuid(i), i))?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(std::fs::metadata(path)?.len())
}

/// Footprints signed per second (both views), `threads` threads, as `bench_core` figure 3.
fn signing_rate(scratch: &Path, threads: usize) -> Res<f64> {
    let home = Home::new(scratch.join("baseline"));
    let raw = RawConfig {
        company_id: OWNER.into(),
        name: "bench-supplier".into(),
        listen: None,
        advertise: None,
        store: RawStore::default(),
        limits: RawLimits::default(),
        tls: RawTls::default(),
        log: RawLog::default(),
        dashboard: Default::default(),
        exchange: Default::default(),
        pact: Default::default(),
        metrics: Default::default(),
        directory: Default::default(),
        audit: Default::default(),
    };
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| format!("os randomness: {e}"))?;
    home.init(&raw, &seed)?;
    let key = home.load_key()?;
    let ctx = ValidationContext {
        own_company_id: Some(OWNER.into()),
    };
    let footprints = (0..BASELINE)
        .map(|i| pact::import(footprint(OWNER, &bench_uuid(i), i), &ctx).map(|i| i.footprint))
        .collect::<Result<Vec<ProductFootprint>, _>>()
        .map_err(|f| format!("bench footprint invalid: {f:?}"))?;
    let chunk = footprints.len().div_ceil(threads).max(1);
    let t0 = Instant::now();
    let signatures = std::thread::scope(|scope| {
        let key = &key;
        let handles: Vec<_> = footprints
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|fp| {
                            let full = signed::view_json(fp, VIEW_FULL)?;
                            let summary = signed::view_json(fp, VIEW_SUMMARY)?;
                            Ok((
                                signed::sign_view(key, OWNER, VIEW_FULL, &full)?,
                                signed::sign_view(key, OWNER, VIEW_SUMMARY, &summary)?,
                            ))
                        })
                        .collect::<Result<Vec<_>, node::crypto::CryptoError>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("signing thread panicked"))
            .collect::<Result<Vec<_>, _>>()
    })?;
    let seconds = t0.elapsed().as_secs_f64();
    black_box(signatures);
    Ok(BASELINE as f64 / seconds)
}

/// User + system ticks of the children this process waited for.
fn children_ticks() -> u64 {
    stat_ticks("/proc/self/stat", 13..15)
}

/// User + system ticks of process `pid`.
fn proc_ticks(pid: u32) -> u64 {
    stat_ticks(&format!("/proc/{pid}/stat"), 11..13)
}

/// The sum of fields `range` of a stat file, counted from its third field.
fn stat_ticks(path: &str, range: std::ops::Range<usize>) -> u64 {
    let Ok(stat) = std::fs::read_to_string(path) else {
        return 0;
    };
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    fields
        .get(range)
        .map_or(0, |f| f.iter().filter_map(|t| t.parse::<u64>().ok()).sum())
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg").map_or_else(
        |_| "?".into(),
        |l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
    )
}
