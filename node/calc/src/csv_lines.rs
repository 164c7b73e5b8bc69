//! Exact line numbers for CSV records read with the `csv` crate.
//!
//! The crate gives each record the position where the reader started looking for it,
//! which is before any empty lines and `#` comment lines it skipped on the way; so a
//! record after a comment would be reported on the comment's line. [`Lines`] passes the
//! bytes through and remembers where those skippable lines are, and [`Lines::line_of`]
//! moves a record's position past them.

use std::io::Read;

/// A reader that notes the empty and `#` comment lines of what it reads.
pub(crate) struct Lines<R> {
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
    pub(crate) fn new(inner: R) -> Self {
        Self {
            inner,
            offset: 0,
            line_start: 0,
            first: None,
            skippable: Vec::new(),
        }
    }

    /// The 1-based line a record starts on, from the position the `csv` reader gave it.
    pub(crate) fn line_of(&self, position: Option<&csv::Position>) -> u64 {
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
