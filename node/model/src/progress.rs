//! Progress of long operations. An operation says how much work there is and how much is
//! done through a [`Progress`]; whoever runs it decides whether and how to show that (the
//! `tanso` binary draws a bar on stderr when it is a terminal). Nothing here draws or
//! writes, and [`NoProgress`] costs nothing.

use std::io::Read;

/// What a progress counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Bytes of an input file read.
    Bytes,
    Footprints,
    /// Ledger rows.
    Rows,
    Pages,
    /// Audit log entries.
    Entries,
}

impl Unit {
    /// The unit's name in the plural, as a display shows it after a count.
    pub fn name(self) -> &'static str {
        match self {
            Unit::Bytes => "bytes",
            Unit::Footprints => "footprints",
            Unit::Rows => "rows",
            Unit::Pages => "pages",
            Unit::Entries => "entries",
        }
    }
}

/// Receives the progress of an operation: one or more phases, each begun by
/// [`start`](Progress::start), advanced, and ended by [`finish`](Progress::finish).
/// Implementations must be cheap: operations call `advance` from their inner loops (once
/// per read of a file, per page, per chunk), never per byte.
pub trait Progress: Send + Sync {
    /// A phase begins: `what` (e.g. "reading the ledger") counts in `unit`, up to `total`
    /// when it is known.
    fn start(&self, what: &str, unit: Unit, total: Option<u64>);
    /// `n` more units are done.
    fn advance(&self, n: u64);
    /// The phase is over. An operation that fails may return without it: the caller ends
    /// what it shows when the operation returns.
    fn finish(&self);
}

/// Progress nobody watches.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&self, _what: &str, _unit: Unit, _total: Option<u64>) {}
    fn advance(&self, _n: u64) {}
    fn finish(&self) {}
}

/// A reader that reports each read's bytes to a [`Progress`] (whose phase, counting
/// [`Unit::Bytes`], the caller starts and finishes).
#[derive(Debug)]
pub struct ProgressRead<'a, R, P: ?Sized> {
    inner: R,
    progress: &'a P,
}

impl<'a, R, P: Progress + ?Sized> ProgressRead<'a, R, P> {
    pub fn new(inner: R, progress: &'a P) -> Self {
        ProgressRead { inner, progress }
    }
}

impl<R: Read, P: Progress + ?Sized> Read for ProgressRead<'_, R, P> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.advance(n as u64);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// Records what it is told.
    #[derive(Default)]
    struct Recorder(Mutex<Vec<String>>);

    impl Progress for Recorder {
        fn start(&self, what: &str, unit: Unit, total: Option<u64>) {
            let line = format!("start {what} {} {total:?}", unit.name());
            self.0.lock().unwrap().push(line);
        }
        fn advance(&self, n: u64) {
            self.0.lock().unwrap().push(format!("advance {n}"));
        }
        fn finish(&self) {
            self.0.lock().unwrap().push("finish".into());
        }
    }

    #[test]
    fn a_progress_reader_reports_every_byte_it_reads() {
        let recorder = Recorder::default();
        let text = vec![b'x'; 10_000];
        let mut out = Vec::new();
        let mut reader = ProgressRead::new(&text[..], &recorder);
        std::io::copy(&mut reader, &mut out).unwrap();
        assert_eq!(out, text);
        let total: u64 = recorder
            .0
            .lock()
            .unwrap()
            .iter()
            .filter_map(|l| l.strip_prefix("advance "))
            .map(|n| n.parse::<u64>().unwrap())
            .sum();
        assert_eq!(total, 10_000);
    }
}
