//! RFC 4180 CSV, line-numbered for problem reports.
//!
//! A record is one line, or several when a quoted field holds a line break;
//! it is named by its first line. Fields are trimmed; a field that starts
//! with `"` is quoted (`""` is a quote inside it). Blank lines and, where the
//! format has them, `#` comment lines are not records. The reader never
//! fails: an unterminated quote runs to the end of the input and the caller
//! sees a record with the wrong number of fields.
//!
//! Written here rather than taken from the `csv` crate because the parsers
//! need the line number of every record and the count of skipped comment and
//! blank lines, which that crate's reader hides.

use std::borrow::Cow;

/// One unit of a CSV file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Row<'a> {
    /// Blank or comment line (comment text without its `#`, trimmed).
    Skip { comment: Option<&'a str> },
    /// A record's raw text, line break(s) inside quotes included.
    Record(&'a str),
}

pub(crate) struct Rows<'a> {
    rest: &'a str,
    line: usize,
    delimiter: u8,
    comments: bool,
}

impl<'a> Rows<'a> {
    /// `comments`: whether lines starting with `#` are comments.
    pub fn new(text: &'a str, delimiter: u8, comments: bool) -> Rows<'a> {
        Rows {
            rest: text,
            line: 1,
            delimiter,
            comments,
        }
    }
}

impl<'a> Iterator for Rows<'a> {
    /// (1-based first line, row)
    type Item = (usize, Row<'a>);

    fn next(&mut self) -> Option<(usize, Row<'a>)> {
        if self.rest.is_empty() {
            return None;
        }
        let first = self.line;
        let bytes = self.rest.as_bytes();
        let line_end = bytes
            .iter()
            .position(|&c| c == b'\n')
            .unwrap_or(bytes.len());
        let line = self.rest[..line_end].trim();
        if line.is_empty() || (self.comments && line.starts_with('#')) {
            self.advance(line_end, 1);
            let comment = line.strip_prefix('#').map(str::trim);
            return Some((first, Row::Skip { comment }));
        }
        let (end, breaks) = record_end(bytes, self.delimiter);
        let record = &self.rest[..end];
        self.advance(end, breaks + 1);
        Some((
            first,
            Row::Record(record.strip_suffix('\r').unwrap_or(record)),
        ))
    }
}

impl<'a> Rows<'a> {
    fn advance(&mut self, end: usize, lines: usize) {
        self.rest = self.rest.get(end + 1..).unwrap_or("");
        self.line += lines;
    }
}

/// End of the record starting at `b[0]` (index of its `\n`, or the length)
/// and the number of line breaks inside quoted fields.
fn record_end(b: &[u8], delimiter: u8) -> (usize, usize) {
    let (mut in_quote, mut field_start, mut breaks) = (false, true, 0);
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if in_quote {
            if c == b'"' {
                if b.get(i + 1) == Some(&b'"') {
                    i += 1;
                } else {
                    in_quote = false;
                }
            } else if c == b'\n' {
                breaks += 1;
            }
        } else if c == b'\n' {
            return (i, breaks);
        } else if c == delimiter {
            field_start = true;
        } else if c == b'"' && field_start {
            in_quote = true;
            field_start = false;
        } else if c != b' ' && c != b'\t' {
            field_start = false;
        }
        i += 1;
    }
    (b.len(), breaks)
}

/// Splits a record into trimmed, unquoted fields (appended to `out`).
pub(crate) fn fields<'a>(record: &'a str, delimiter: u8, out: &mut Vec<Cow<'a, str>>) {
    let b = record.as_bytes();
    let mut i = 0;
    loop {
        while i < b.len() && (b[i] == b' ' || b[i] == b'\t') {
            i += 1;
        }
        if i < b.len() && b[i] == b'"' {
            // Quoted field: up to the closing quote, `""` is a quote.
            let start = i + 1;
            let mut j = start;
            let mut escaped = false;
            while j < b.len() {
                if b[j] == b'"' {
                    if b.get(j + 1) == Some(&b'"') {
                        escaped = true;
                        j += 2;
                        continue;
                    }
                    break;
                }
                j += 1;
            }
            let inner = &record[start..j.min(b.len())];
            let mut k = (j + 1).min(b.len());
            let after_start = k;
            while k < b.len() && b[k] != delimiter {
                k += 1;
            }
            // Text after the closing quote (not RFC 4180) is kept, leniently.
            let after = record[after_start..k].trim();
            let value = match (escaped, after.is_empty()) {
                (false, true) => Cow::Borrowed(inner),
                _ => Cow::Owned(inner.replace("\"\"", "\"") + after),
            };
            out.push(value);
            i = k;
        } else {
            let start = i;
            while i < b.len() && b[i] != delimiter {
                i += 1;
            }
            out.push(Cow::Borrowed(record[start..i].trim()));
        }
        if i >= b.len() {
            return;
        }
        i += 1; // the delimiter
    }
}

/// Guesses the delimiter of a header or first record: the most frequent of
/// `,` `;` tab `|` outside quotes, `,` when none appears.
pub(crate) fn guess_delimiter(record: &str) -> u8 {
    let mut counts = [0usize; 4];
    let mut in_quote = false;
    for c in record.bytes() {
        match c {
            b'"' => in_quote = !in_quote,
            b',' if !in_quote => counts[0] += 1,
            b';' if !in_quote => counts[1] += 1,
            b'\t' if !in_quote => counts[2] += 1,
            b'|' if !in_quote => counts[3] += 1,
            _ => {}
        }
    }
    let best = (0..4)
        .max_by_key(|&i| (counts[i], std::cmp::Reverse(i)))
        .unwrap_or(0);
    if counts[best] == 0 {
        b','
    } else {
        [b',', b';', b'\t', b'|'][best]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(r: &str) -> Vec<String> {
        let mut v = Vec::new();
        fields(r, b',', &mut v);
        v.into_iter().map(Cow::into_owned).collect()
    }

    #[test]
    fn fields_are_unquoted_and_trimmed() {
        assert_eq!(
            split("a, b ,\"c, d\",\"say \"\"hi\"\"\",,"),
            ["a", "b", "c, d", "say \"hi\"", "", ""]
        );
        assert_eq!(split(""), [""]);
        assert_eq!(split(" \"x\" , y"), ["x", "y"]);
        assert_eq!(split("\"unterminated, z"), ["unterminated, z"]);
    }

    #[test]
    fn records_span_quoted_line_breaks_and_keep_line_numbers() {
        let text = "# c\nh1,h2\r\n\n1,\"two\nlines\"\n3,x\"y\n4,5";
        let rows: Vec<_> = Rows::new(text, b',', true).collect();
        assert_eq!(
            rows,
            vec![
                (1, Row::Skip { comment: Some("c") }),
                (2, Row::Record("h1,h2")),
                (3, Row::Skip { comment: None }),
                (4, Row::Record("1,\"two\nlines\"")),
                (6, Row::Record("3,x\"y")),
                (7, Row::Record("4,5")),
            ]
        );
    }

    #[test]
    fn delimiters_are_guessed() {
        assert_eq!(guess_delimiter("ip;first_seen;\"a,b\""), b';');
        assert_eq!(guess_delimiter("ip\tcategory"), b'\t');
        assert_eq!(guess_delimiter("ip"), b',');
    }
}
