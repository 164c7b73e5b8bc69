//! Progress bars: drawn on stderr when it is a terminal (a pseudo-terminal made by util-linux
//! `script`), never when stderr is piped or with `--quiet`, and stdout the same either way.

use std::path::Path;
use std::process::{Command, Stdio};

use tests::{footprint, uuid};

use crate::cli::{init, repo, serve, tanso, write};

/// Whether util-linux `script` is here to give a command a pseudo-terminal.
fn script_available() -> bool {
    Command::new("script")
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Single-quotes `s` for sh.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Runs `tanso args` with stderr on a pseudo-terminal and stdout into a file: (what the
/// terminal showed, stdout).
fn on_terminal(dir: &Path, name: &str, args: &[&str]) -> (String, Vec<u8>) {
    let stdout = dir.join(format!("{name}.stdout"));
    let mut line = quote(env!("CARGO_BIN_EXE_tanso"));
    for a in args {
        line.push(' ');
        line.push_str(&quote(a));
    }
    line.push_str(" > ");
    line.push_str(&quote(&stdout.display().to_string()));
    let out = Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .env_remove("TANSO_HOME")
        .env("TANSO_LOG", "warn")
        .env("TANSO_PROGRESS_EAGER", "1")
        .stdin(Stdio::null())
        .output()
        .expect("run script");
    let terminal = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "tanso {args:?} failed: {terminal}");
    (terminal, std::fs::read(&stdout).expect("stdout file"))
}

/// Runs `tanso args` with stdout and stderr piped: (stderr, stdout).
fn piped(args: &[&str]) -> (String, Vec<u8>) {
    let out = tanso()
        .args(args)
        .env("TANSO_PROGRESS_EAGER", "1")
        .stdin(Stdio::null())
        .output()
        .expect("run tanso");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "tanso {args:?} failed: {stderr}");
    (stderr, out.stdout)
}

/// Nothing a progress bar or spinner draws: no rate, no ETA, no line erasing.
fn assert_no_progress(what: &str, text: &str) {
    for mark in [
        "/s",
        "ETA",
        "\u{1b}[",
        "reading",
        "publishing",
        "calculating",
        "verifying",
    ] {
        assert!(
            !text.contains(mark),
            "{what} shows progress ({mark:?}): {text:?}"
        );
    }
}

#[test]
fn progress_is_drawn_on_a_terminal_only() {
    if !script_available() {
        tests::not_run(
            "progress_is_drawn_on_a_terminal_only",
            "util-linux `script` (bsdutils) is not installed",
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut jsonl = String::new();
    for i in 0..50 {
        let fp = footprint("steel", &uuid(), &format!("urn:tanso:steel:product:p{i}"));
        jsonl.push_str(&fp.to_string());
        jsonl.push('\n');
    }
    let file = write(dir.path(), "footprints.jsonl", &jsonl);

    // `footprint publish`: the file's bytes read, then a spinner while the node publishes.
    let homes: Vec<String> = ["bar", "quiet", "piped"]
        .iter()
        .map(|run| {
            let parent = dir.path().join(run);
            std::fs::create_dir(&parent).unwrap();
            init(&parent, "steel")
        })
        .collect();
    let publish = |home: &str| ["footprint", "publish", "--home", home, &file].map(String::from);
    let args = publish(&homes[0]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (terminal, drawn_out) = on_terminal(dir.path(), "publish-bar", &args);
    for mark in [
        "reading footprints.jsonl",
        "B/s",
        "ETA",
        "publishing footprints",
    ] {
        assert!(
            terminal.contains(mark),
            "the terminal shows no {mark:?}: {terminal:?}"
        );
    }
    assert_eq!(
        String::from_utf8(drawn_out.clone())
            .unwrap()
            .lines()
            .count(),
        50,
        "one id per footprint on stdout"
    );
    let args = publish(&homes[1]);
    let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
    args.push("--quiet");
    let (terminal, quiet_out) = on_terminal(dir.path(), "publish-quiet", &args);
    assert_no_progress("publish --quiet on a terminal", &terminal);
    let args = publish(&homes[2]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (stderr, piped_out) = piped(&args);
    assert_no_progress("publish with stderr piped", &stderr);
    assert_eq!(drawn_out, quiet_out, "stdout with and without --quiet");
    assert_eq!(
        drawn_out, piped_out,
        "stdout with stderr on a terminal and piped"
    );

    // A command a running node executes (over its admin socket): a spinner.
    let served = serve(&homes[0]);
    let verify = ["audit", "verify", "--home", &homes[0]];
    let (terminal, drawn_out) = on_terminal(dir.path(), "verify-spinner", &verify);
    assert!(
        terminal.contains("verifying the audit log"),
        "the terminal shows no spinner: {terminal:?}"
    );
    let (stderr, piped_out) = piped(&verify);
    assert_no_progress("audit verify with stderr piped", &stderr);
    assert_eq!(drawn_out, piped_out, "audit verify's stdout");
    assert!(String::from_utf8_lossy(&piped_out).starts_with("audit chain ok"));
    drop(served);

    // `scope3 report`: the ledger's bytes read, then a spinner while it calculates.
    let ledger = repo("data/examples/ledger");
    let inbox = repo("data/examples/inbox.json");
    let report = [
        "scope3",
        "report",
        "--ledger",
        &ledger,
        "--inbox-file",
        &inbox,
    ];
    let (terminal, drawn_out) = on_terminal(dir.path(), "scope3-bar", &report);
    for mark in ["reading the ledger", "B/s", "ETA", "calculating"] {
        assert!(
            terminal.contains(mark),
            "the terminal shows no {mark:?}: {terminal:?}"
        );
    }
    assert!(
        String::from_utf8_lossy(&drawn_out).contains("purchased goods and services"),
        "{}",
        String::from_utf8_lossy(&drawn_out)
    );
    let mut quiet = report.to_vec();
    quiet.insert(0, "-q");
    let (terminal, quiet_out) = on_terminal(dir.path(), "scope3-quiet", &quiet);
    assert_no_progress("scope3 report -q on a terminal", &terminal);
    let (stderr, piped_out) = piped(&report);
    assert_no_progress("scope3 report with stderr piped", &stderr);
    assert_eq!(drawn_out, quiet_out, "stdout with and without -q");
    assert_eq!(
        drawn_out, piped_out,
        "stdout with stderr on a terminal and piped"
    );
}
