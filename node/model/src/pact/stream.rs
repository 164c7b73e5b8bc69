//! Splits a footprint document into records as it is read, so a document of any size is
//! never held whole: one JSON object, one JSON array of objects, or JSONL.
//!
//! The form is decided from the start of the document. A first non-blank character `[` is an
//! array, read element by element through serde's `SeqAccess` (each element parsed here, one
//! at a time). Otherwise the first non-blank line decides: if it is a complete JSON value by
//! itself the document is JSONL (one object per line, blank lines ignored, each line handed
//! on unparsed so that callers parse lines on several threads), else it is one value spread
//! over lines. Errors carry the line (and column) within the whole document, as
//! [`super::parse_document`] always reported them.
//!
//! Every record is bounded: a line, an element or a whole document longer than
//! `max_record_bytes` is an error naming it, found without holding more than that.
//!
//! This module reads only the reader it is handed.

use std::cell::Cell;
use std::io::{BufRead, Read};

use serde::Deserialize;
use serde::de::{DeserializeSeed, SeqAccess, Visitor};
use serde_json::Value;

use super::validate::{DocumentError, json_type};
use serde_json::value::RawValue;

/// One record of a document, in input order.
#[derive(Debug)]
pub struct Record {
    /// 0-based position of the record in the document.
    pub index: usize,
    /// Bytes of input the record took (about, for an array element: what was read for it).
    pub bytes: usize,
    /// How the record reached us: a JSONL line not parsed yet, or an already parsed value.
    pub body: RecordBody,
}

/// The text or value of a [`Record`].
#[derive(Debug)]
pub enum RecordBody {
    /// A JSONL line (1-based line number) and its bytes.
    Line { line: usize, text: Vec<u8> },
    /// An array element or the single object of the document: its text, checked to be one
    /// JSON object and parsed only by [`Record::parse`] (on the publish's workers), so the
    /// reader holds text, not a parsed tree many times its size.
    Object(Box<RawValue>),
}

impl Record {
    /// The footprint object of the record, or why it is not one.
    pub fn parse(self) -> Result<Value, DocumentError> {
        match self.body {
            RecordBody::Object(raw) => serde_json::from_str(raw.get())
                .map_err(|e| DocumentError::Read(format!("record {}: {e}", self.index))),
            RecordBody::Line { line, text } => match serde_json::from_slice::<Value>(&text) {
                Ok(v @ Value::Object(_)) => Ok(v),
                Ok(other) => Err(DocumentError::NotAnObject {
                    line,
                    found: json_type(&other),
                }),
                Err(e) => Err(super::validate::syntax(&e, line - 1, 0)),
            },
        }
    }
}

/// Reads `input` and hands every record to `sink` in order; stops early, without error,
/// when `sink` returns `false`. The first problem with the document's structure (syntax
/// outside a JSONL line, a non-object element, a record over `max_record_bytes`) ends the
/// walk as the error; a JSONL line's own syntax is checked by [`Record::parse`].
pub fn for_each_record(
    mut input: impl BufRead,
    max_record_bytes: usize,
    mut sink: impl FnMut(Record) -> bool,
) -> Result<(), DocumentError> {
    let io = |e: std::io::Error| DocumentError::Read(e.to_string());
    // Leading whitespace: lines and columns skipped, for positions within the document.
    let mut lines_skipped = 0usize;
    let mut columns_skipped = 0usize;
    let first = loop {
        let buf = input.fill_buf().map_err(io)?;
        if buf.is_empty() {
            return Err(DocumentError::Empty);
        }
        let blank = buf.iter().take_while(|b| b.is_ascii_whitespace()).count();
        for &c in &buf[..blank] {
            if c == b'\n' {
                lines_skipped += 1;
                columns_skipped = 0;
            } else {
                columns_skipped += 1;
            }
        }
        let found = buf.get(blank).copied();
        input.consume(blank);
        if let Some(b) = found {
            break b;
        }
    };
    let at = |e: &serde_json::Error| {
        super::validate::syntax(
            e,
            lines_skipped,
            if e.line() == 1 { columns_skipped } else { 0 },
        )
    };
    if first == b'[' {
        return read_array(input, max_record_bytes, &at, sink);
    }
    let mut line = Vec::new();
    let first_line = lines_skipped + 1;
    if read_line(&mut input, max_record_bytes, &mut line).map_err(io)? == Line::TooLong {
        return Err(DocumentError::TooLarge {
            record: format!("line {first_line}"),
            limit: max_record_bytes,
        });
    }
    if serde_json::from_slice::<serde::de::IgnoredAny>(&line).is_err() {
        // One value over several lines (the first one's line break back, for positions).
        line.push(b'\n');
        let mark = Cell::new(0);
        let reader = Capped {
            inner: std::io::Cursor::new(line).chain(input),
            since_mark: &mark,
            limit: max_record_bytes,
        };
        let mut de = serde_json::Deserializer::from_reader(reader);
        let value = <Box<RawValue>>::deserialize(&mut de)
            .and_then(|v| de.end().map(|()| v))
            .map_err(|e| {
                if mark.get() > max_record_bytes {
                    DocumentError::TooLarge {
                        record: "the document".into(),
                        limit: max_record_bytes,
                    }
                } else {
                    at(&e)
                }
            })?;
        if let Some(found) = not_an_object(&value) {
            return Err(DocumentError::NotAnObject {
                line: first_line,
                found,
            });
        }
        sink(Record {
            index: 0,
            bytes: mark.get(),
            body: RecordBody::Object(value),
        });
        return Ok(());
    }
    // JSONL: the first line is a record; so is every non-blank line after it.
    let mut index = 0;
    let mut number = first_line;
    loop {
        if !line.iter().all(u8::is_ascii_whitespace) {
            let text = std::mem::take(&mut line);
            if !sink(Record {
                index,
                bytes: text.len(),
                body: RecordBody::Line { line: number, text },
            }) {
                return Ok(());
            }
            index += 1;
        }
        line.clear();
        number += 1;
        match read_line(&mut input, max_record_bytes, &mut line).map_err(io)? {
            Line::Eof => return Ok(()),
            Line::TooLong => {
                return Err(DocumentError::TooLarge {
                    record: format!("line {number}"),
                    limit: max_record_bytes,
                });
            }
            Line::Read => {}
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Line {
    /// A line (possibly the last, without a newline) is in the buffer.
    Read,
    /// Nothing left.
    Eof,
    /// The line is longer than the limit; it was skipped up to its end.
    TooLong,
}

/// Reads one line (without its `\n`) into `out`, holding at most `limit` bytes of it.
fn read_line(input: &mut impl BufRead, limit: usize, out: &mut Vec<u8>) -> std::io::Result<Line> {
    let mut any = false;
    let mut too_long = false;
    loop {
        let buf = input.fill_buf()?;
        if buf.is_empty() {
            return Ok(match (any, too_long) {
                (_, true) => Line::TooLong,
                (true, false) => Line::Read,
                (false, false) => Line::Eof,
            });
        }
        any = true;
        let (take, done) = match buf.iter().position(|b| *b == b'\n') {
            Some(i) => (i, true),
            None => (buf.len(), false),
        };
        if !too_long {
            if out.len() + take > limit {
                too_long = true;
                out.clear();
            } else {
                out.extend_from_slice(&buf[..take]);
            }
        }
        input.consume(if done { take + 1 } else { take });
        if done {
            return Ok(if too_long { Line::TooLong } else { Line::Read });
        }
    }
}

/// A reader that fails once more than `limit` bytes were read since the last mark (the
/// start of the current record), so one record cannot grow without bound.
struct Capped<'a, R> {
    inner: R,
    since_mark: &'a Cell<usize>,
    limit: usize,
}

impl<R: Read> Read for Capped<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.since_mark.get() > self.limit {
            return Err(std::io::Error::other("record too large"));
        }
        let n = self.inner.read(buf)?;
        self.since_mark.set(self.since_mark.get() + n);
        Ok(n)
    }
}

/// An array, element by element.
fn read_array(
    input: impl BufRead,
    max_record_bytes: usize,
    at: &dyn Fn(&serde_json::Error) -> DocumentError,
    sink: impl FnMut(Record) -> bool,
) -> Result<(), DocumentError> {
    let mark = Cell::new(0);
    let reader = Capped {
        inner: input,
        since_mark: &mark,
        limit: max_record_bytes,
    };
    let mut de = serde_json::Deserializer::from_reader(reader);
    let outcome = Cell::new(None);
    let stopped = Cell::new(false);
    let walk = Elements {
        sink,
        mark: &mark,
        outcome: &outcome,
        stopped: &stopped,
    };
    let result = serde::Deserializer::deserialize_seq(&mut de, walk).and_then(|()| de.end());
    if let Some(problem) = outcome.take() {
        return Err(problem);
    }
    if stopped.get() {
        // serde's own check of what follows the elements would fail on the rest.
        return Ok(());
    }
    result.map_err(|e| {
        if mark.get() > max_record_bytes {
            DocumentError::TooLarge {
                record: "an array element".into(),
                limit: max_record_bytes,
            }
        } else {
            at(&e)
        }
    })
}

/// The visitor of the top-level array: hands each element on as soon as it is parsed.
struct Elements<'a, S> {
    sink: S,
    mark: &'a Cell<usize>,
    /// A problem that is not serde's (an element that is not an object).
    outcome: &'a Cell<Option<DocumentError>>,
    /// Set when the walk ended before the end of the array.
    stopped: &'a Cell<bool>,
}

impl<'de, S: FnMut(Record) -> bool> Visitor<'de> for Elements<'_, S> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an array of footprint objects")
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0;
        // The mark moves to the end of each element, so the limit is per element (what serde
        // reads ahead of an element is counted against it; a few bytes at most).
        self.mark.set(0);
        while let Some(value) = seq.next_element_seed(ElementSeed)? {
            let bytes = self.mark.replace(0);
            if let Some(found) = not_an_object(&value) {
                self.outcome
                    .set(Some(DocumentError::ElementNotObject { index, found }));
                self.stopped.set(true);
                return Ok(());
            }
            if !(self.sink)(Record {
                index,
                bytes,
                body: RecordBody::Object(value),
            }) {
                self.stopped.set(true);
                return Ok(());
            }
            index += 1;
        }
        Ok(())
    }
}

struct ElementSeed;

impl<'de> DeserializeSeed<'de> for ElementSeed {
    type Value = Box<RawValue>;

    fn deserialize<D: serde::Deserializer<'de>>(self, de: D) -> Result<Box<RawValue>, D::Error> {
        <Box<RawValue>>::deserialize(de)
    }
}

/// The JSON type of a record that is not an object (`None` for an object). The text is
/// valid JSON, so its first character tells the type.
fn not_an_object(raw: &RawValue) -> Option<&'static str> {
    match raw.get().trim_start().as_bytes().first() {
        Some(b'{') => None,
        Some(b'[') => Some("array"),
        Some(b'"') => Some("string"),
        Some(b't' | b'f') => Some("boolean"),
        Some(b'n') => Some("null"),
        _ => Some("number"),
    }
}
