//! The one CSV reader of the code base ([`CsvReader`]: ledgers, KPI measures, factor sets,
//! and `tanso-logistics`' legs files),
//! and the exact line numbers it gives records read with the `csv` crate.
//!
//! The crate gives each record the position where the reader started looking for it,
//! which is before any empty lines and `#` comment lines it skipped on the way; so a
//! record after a comment would be reported on the comment's line. [`Lines`] passes the
//! bytes through and remembers where those skippable lines are, and [`Lines::line_of`]
//! moves a record's position past them.

use std::io::Read;

/// How the fields of a CSV input are read.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Trim the whitespace around every field.
    pub trim: bool,
    /// Let records differ in length from the header (the caller checks).
    pub flexible: bool,
}

/// The one CSV reader: `#` comment lines skipped, header names without a byte-order mark or
/// surrounding whitespace, and every record and error at its real 1-based line.
pub struct CsvReader<R: Read> {
    rdr: csv::Reader<Lines<R>>,
}

/// A CSV problem at a line.
#[derive(Debug)]
pub struct CsvProblem {
    pub line: u64,
    pub message: String,
}

impl<R: Read> CsvReader<R> {
    pub fn new(input: R, shape: Shape) -> CsvReader<R> {
        let rdr = csv::ReaderBuilder::new()
            .comment(Some(b'#'))
            .trim(if shape.trim {
                csv::Trim::All
            } else {
                csv::Trim::None
            })
            .flexible(shape.flexible)
            .from_reader(Lines::new(input));
        CsvReader { rdr }
    }

    /// The header's line and its names.
    pub fn header(&mut self) -> Result<(u64, Vec<String>), CsvProblem> {
        let header = self
            .rdr
            .headers()
            .map_err(|e| CsvProblem {
                line: 1,
                message: e.to_string(),
            })?
            .clone();
        let line = self.rdr.get_ref().line_of(header.position()).max(1);
        let names = header
            .iter()
            .map(|h| h.trim_start_matches('\u{feff}').trim().to_string())
            .collect();
        Ok((line, names))
    }

    /// Reads the next record into `rec`: `Ok(Some(line))`, or `Ok(None)` at the end.
    pub fn read(&mut self, rec: &mut csv::StringRecord) -> Result<Option<u64>, CsvProblem> {
        match self.rdr.read_record(rec) {
            Ok(false) => Ok(None),
            Ok(true) => Ok(Some(self.rdr.get_ref().line_of(rec.position()))),
            Err(e) => Err(CsvProblem {
                line: self.rdr.get_ref().line_of(e.position()),
                message: e.to_string(),
            }),
        }
    }
}

/// A reader that notes the empty and `#` comment lines of what it reads.
struct Lines<R> {
    inner: R,
    /// Byte offset of the next byte read.
    offset: u64,
    /// Where the current line starts, and its first byte (`None` until it is read).
    line_start: u64,
    first: Option<u8>,
    /// (offset, length) of every empty or comment line, in file order.
    skippable: Vec<(u64, u64)>,
}

impl<R: Read> Lines<R> {
    fn new(inner: R) -> Self {
        Self {
            inner,
            offset: 0,
            line_start: 0,
            first: None,
            skippable: Vec::new(),
        }
    }

    /// The 1-based line a record starts on, from the position the `csv` reader gave it.
    fn line_of(&self, position: Option<&csv::Position>) -> u64 {
        let Some(position) = position else {
            return 0;
        };
        let (mut line, mut at) = (position.line(), position.byte());
        let mut i = self.skippable.partition_point(|(start, _)| *start < at);
        while let Some(&(start, len)) = self.skippable.get(i) {
            if start != at {
                break;
            }
            line += 1;
            at += len;
            i += 1;
        }
        line
    }
}

impl<R: Read> Read for Lines<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let bytes = &buf[..n];
        if self.first.is_none() && n > 0 {
            self.first = Some(bytes[0]);
        }
        for i in memchr::memchr_iter(b'\n', bytes) {
            let at = self.offset + i as u64;
            let len = at + 1 - self.line_start;
            let empty = len == 1 || (len == 2 && self.first == Some(b'\r'));
            if empty || self.first == Some(b'#') {
                self.skippable.push((self.line_start, len));
            }
            self.line_start = at + 1;
            self.first = bytes.get(i + 1).copied();
        }
        self.offset += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_after_comments_and_blank_lines_keep_their_own_line() {
        let text = "# a comment\na,b\n\n# another\r\n1,2\n\"multi\nline\",3\n\n4,5";
        let mut rdr = csv::ReaderBuilder::new()
            .comment(Some(b'#'))
            .from_reader(Lines::new(text.as_bytes()));
        let header = rdr.headers().unwrap().clone();
        assert_eq!(rdr.get_ref().line_of(header.position()), 2);
        let mut lines = Vec::new();
        let mut rec = csv::StringRecord::new();
        while rdr.read_record(&mut rec).unwrap() {
            lines.push(rdr.get_ref().line_of(rec.position()));
        }
        assert_eq!(lines, vec![5, 6, 9]);
    }
}
