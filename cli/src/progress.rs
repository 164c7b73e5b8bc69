//! Progress on the terminal: indicatif bars and spinners on stderr, drawn only when stderr is
//! a terminal and `--quiet` was not given, so scripts and logs stay clean. The library only
//! reports progress (`node::progress`); this module decides whether and how it is drawn.
//!
//! What is drawn:
//! - reading an input file of at least [`MIN_BYTES`]: bytes read, MB/s and ETA
//!   ([`open`], and through it `cmd::read`);
//! - a phase the library reports (`Bars` as a `node::progress::Progress`): a bar with rate
//!   and ETA when its total is known, else a count with rate and elapsed time;
//! - a command that reports nothing (run through the admin socket, or a publish in
//!   process): a spinner with the elapsed time once it has taken [`SPINNER_AFTER`].
//!
//! `TANSO_PROGRESS_EAGER=1` is for tests: it draws for any file size and at once.

use std::io::{IsTerminal, Read};
use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use node::progress::{Progress, Unit};

/// Input files smaller than this are read without a bar.
const MIN_BYTES: u64 = 4 << 20;
/// A command that reports no progress shows a spinner after this long.
const SPINNER_AFTER: Duration = Duration::from_secs(1);
/// How often a spinner moves (and its elapsed time is redrawn).
const TICK: Duration = Duration::from_millis(100);

struct Settings {
    draw: bool,
    min_bytes: u64,
    spinner_after: Duration,
}

static SETTINGS: OnceLock<Settings> = OnceLock::new();

/// Decides, once, whether progress is drawn: stderr is a terminal and not `quiet`.
pub(crate) fn init(quiet: bool) {
    let eager = std::env::var_os("TANSO_PROGRESS_EAGER").is_some_and(|v| v == "1");
    let _ = SETTINGS.set(Settings {
        draw: !quiet && std::io::stderr().is_terminal(),
        min_bytes: if eager { 0 } else { MIN_BYTES },
        spinner_after: if eager { Duration::ZERO } else { SPINNER_AFTER },
    });
}

fn settings() -> &'static Settings {
    SETTINGS.get_or_init(|| Settings {
        draw: false,
        min_bytes: MIN_BYTES,
        spinner_after: SPINNER_AFTER,
    })
}

/// A bar (known total) or a counter (unknown total) for `what`, counting `unit`.
fn bar(what: &str, unit: Unit, total: Option<u64>) -> ProgressBar {
    let template = match (unit, total) {
        (Unit::Bytes, Some(_)) => "{msg} [{wide_bar}] {binary_bytes}/{binary_total_bytes} \
             {binary_bytes_per_sec}, ETA {eta}"
            .to_string(),
        (Unit::Bytes, None) => {
            "{spinner} {msg}: {binary_bytes} {binary_bytes_per_sec}, {elapsed}".to_string()
        }
        (_, Some(_)) => format!(
            "{{msg}} [{{wide_bar}}] {{human_pos}}/{{human_len}} {} {{per_sec}}, ETA {{eta}}",
            unit.name()
        ),
        (_, None) => format!(
            "{{spinner}} {{msg}}: {{human_pos}} {} ({{per_sec}}), {{elapsed}}",
            unit.name()
        ),
    };
    let style = ProgressStyle::with_template(&template)
        .expect("a valid progress template")
        .progress_chars("=> ");
    let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr())
        .with_style(style)
        .with_message(what.to_string());
    if total.is_none() {
        bar.enable_steady_tick(TICK);
    }
    bar
}

/// Progress the library reports, drawn as one bar at a time (a new phase replaces the last).
/// Draws nothing when progress is off.
pub(crate) struct Bars {
    current: Mutex<Option<ProgressBar>>,
}

impl Bars {
    pub(crate) fn new() -> Bars {
        Bars {
            current: Mutex::new(None),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<ProgressBar>> {
        self.current.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Progress for Bars {
    fn start(&self, what: &str, unit: Unit, total: Option<u64>) {
        let mut current = self.lock();
        if let Some(old) = current.take() {
            old.finish_and_clear();
        }
        let s = settings();
        if !s.draw || (unit == Unit::Bytes && total.is_some_and(|t| t < s.min_bytes)) {
            return;
        }
        *current = Some(bar(what, unit, total));
    }

    fn advance(&self, n: u64) {
        if let Some(bar) = self.lock().as_ref() {
            bar.inc(n);
        }
    }

    fn finish(&self) {
        if let Some(bar) = self.lock().take() {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Bars {
    fn drop(&mut self) {
        self.finish();
    }
}

/// An input file, read with a bar of the bytes read when it is large enough (and progress is
/// drawn). The bar goes when the reader is dropped.
pub(crate) struct FileRead {
    file: std::fs::File,
    len: u64,
    bar: Option<ProgressBar>,
}

impl FileRead {
    /// The file's size when it was opened.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }
}

impl Read for FileRead {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.file.read(buf)?;
        if let Some(bar) = &self.bar {
            bar.inc(n as u64);
        }
        Ok(n)
    }
}

impl Drop for FileRead {
    fn drop(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

/// Opens an input file to read, with a bar of the bytes read (see [`FileRead`]).
pub(crate) fn open(path: &Path) -> Result<FileRead> {
    let file = std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let s = settings();
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let bar = if s.draw {
        (len >= s.min_bytes).then(|| {
            let name = path
                .file_name()
                .unwrap_or(path.as_os_str())
                .to_string_lossy();
            bar(&format!("reading {name}"), Unit::Bytes, Some(len))
        })
    } else {
        None
    };
    Ok(FileRead { file, len, bar })
}

/// A spinner with the elapsed time, drawn (when progress is) once the work has taken
/// [`SPINNER_AFTER`], until it is dropped.
pub(crate) struct Spinner {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Spinner {
    pub(crate) fn start(what: &str) -> Spinner {
        let s = settings();
        if !s.draw {
            return Spinner {
                stop: None,
                thread: None,
            };
        }
        let (stop, stopped) = mpsc::channel::<()>();
        let what = what.to_string();
        let after = s.spinner_after;
        let show = move || {
            let style = ProgressStyle::with_template("{spinner} {msg} {elapsed}")
                .expect("a valid spinner template");
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr())
                .with_style(style)
                .with_message(what.clone())
                .with_elapsed(after);
            bar.tick();
            bar.enable_steady_tick(TICK);
            bar
        };
        // Without a delay (TANSO_PROGRESS_EAGER) the spinner is drawn before the work starts.
        let shown = after.is_zero().then(&show);
        let thread = std::thread::spawn(move || {
            let bar = match shown {
                Some(bar) => bar,
                None if stopped.recv_timeout(after) == Err(RecvTimeoutError::Timeout) => show(),
                None => return,
            };
            // Until the work is done (the sender is dropped).
            let _ = stopped.recv();
            bar.finish_and_clear();
        });
        Spinner {
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every unit, with and without a total, has a template indicatif accepts (a bad one
    /// would panic the first time a long operation ran on a terminal).
    #[test]
    fn every_kind_of_bar_has_a_valid_template() {
        let units = [
            Unit::Bytes,
            Unit::Footprints,
            Unit::Rows,
            Unit::Pages,
            Unit::Entries,
        ];
        for unit in units {
            for total in [None, Some(10)] {
                let bar = bar("checking", unit, total);
                bar.inc(3);
                assert_eq!(bar.position(), 3);
                assert_eq!(bar.length(), total);
                bar.finish_and_clear();
            }
        }
    }
}
