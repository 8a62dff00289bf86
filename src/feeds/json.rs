//! JSON input: arrays read element by element, so that a truncated or
//! damaged document still yields every element before the damage (and the
//! damage is one rejected record, not a lost feed).

use serde_json::Value;

/// One element of a JSON array.
#[derive(Debug)]
pub(crate) enum Element {
    Value(Value),
    /// The element at this index could not be read (truncated or malformed
    /// JSON, or the array does not go on properly); nothing after it can be.
    Broken,
}

/// Reads the array whose `[` is at `open` in `input`, element by element.
pub(crate) fn array_elements(input: &[u8], open: usize) -> ArrayElements<'_> {
    ArrayElements {
        input,
        pos: open + 1,
        state: State::Reading,
        index: 0,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Reading,
    /// The last element was complete but no `,` or `]` followed it.
    BrokenNext,
    Done,
}

pub(crate) struct ArrayElements<'a> {
    input: &'a [u8],
    pos: usize,
    state: State,
    index: usize,
}

impl Iterator for ArrayElements<'_> {
    /// (0-based index, element)
    type Item = (usize, Element);

    fn next(&mut self) -> Option<(usize, Element)> {
        let index = self.index;
        self.index += 1;
        match self.state {
            State::Done => return None,
            State::BrokenNext => {
                self.state = State::Done;
                return Some((index, Element::Broken));
            }
            State::Reading => {}
        }
        self.pos = skip_ws(self.input, self.pos);
        if index == 0 && self.input.get(self.pos) == Some(&b']') {
            self.state = State::Done;
            return None;
        }
        let mut stream =
            serde_json::Deserializer::from_slice(&self.input[self.pos..]).into_iter::<Value>();
        let Some(Ok(value)) = stream.next() else {
            self.state = State::Done;
            return Some((index, Element::Broken));
        };
        self.pos = skip_ws(self.input, self.pos + stream.byte_offset());
        match self.input.get(self.pos) {
            Some(b',') => self.pos += 1,
            Some(b']') => self.state = State::Done,
            _ => self.state = State::BrokenNext,
        }
        Some((index, Element::Value(value)))
    }
}

/// Index of the first non-whitespace byte at or after `pos`.
pub(crate) fn skip_ws(input: &[u8], mut pos: usize) -> usize {
    while pos < input.len() && matches!(input[pos], b' ' | b'\t' | b'\n' | b'\r') {
        pos += 1;
    }
    pos
}

/// Position of the `[` of the array under `"key":` in the top-level object,
/// found by a byte scan (used when the document as a whole does not parse).
pub(crate) fn find_array_of(input: &[u8], key: &str) -> Option<usize> {
    let needle = format!("\"{key}\"");
    let mut from = 0;
    while let Some(off) = input[from..]
        .windows(needle.len())
        .position(|w| w == needle.as_bytes())
    {
        let mut p = skip_ws(input, from + off + needle.len());
        if input.get(p) == Some(&b':') {
            p = skip_ws(input, p + 1);
            if input.get(p) == Some(&b'[') {
                return Some(p);
            }
        }
        from += off + 1;
    }
    None
}

/// A string member, trimmed; `None` when absent, null, or not a string.
pub(crate) fn str_field<'v>(v: &'v Value, key: &str) -> Option<&'v str> {
    v.get(key).and_then(Value::as_str).map(str::trim)
}

/// A member as text: strings as they are, numbers printed.
pub(crate) fn text_field(v: &Value, key: &str) -> Option<Box<str>> {
    match v.get(key)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().into()),
        Value::Number(n) => Some(n.to_string().into()),
        _ => None,
    }
}

/// A member as a non-negative score: integers, floats (truncated), numeric
/// strings.
pub(crate) fn score_field(v: &Value, key: &str) -> Option<u32> {
    match v.get(key)? {
        Value::Number(n) => n
            .as_u64()
            .map(|x| x.min(u64::from(u32::MAX)) as u32)
            .or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u32)),
        Value::String(s) => parse_score(s),
        _ => None,
    }
}

/// A score written as text: `87`, `87.5`.
pub(crate) fn parse_score(s: &str) -> Option<u32> {
    let s = s.trim();
    s.parse::<u32>().ok().or_else(|| {
        s.parse::<f64>()
            .ok()
            .filter(|f| f.is_finite() && *f >= 0.0)
            .map(|f| f as u32)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(input: &str) -> Vec<(usize, bool)> {
        let open = input.find('[').unwrap();
        array_elements(input.as_bytes(), open)
            .map(|(i, e)| (i, matches!(e, Element::Value(_))))
            .collect()
    }

    #[test]
    fn elements_before_damage_survive() {
        assert_eq!(
            kinds("[1, {\"a\": [2]}, \"x\"]"),
            [(0, true), (1, true), (2, true)]
        );
        assert_eq!(kinds("[ ]"), []);
        assert_eq!(kinds("[{\"a\":1},{\"a\":"), [(0, true), (1, false)]);
        assert_eq!(kinds("[{\"a\":1},"), [(0, true), (1, false)]);
        assert_eq!(kinds("[{\"a\":1}"), [(0, true), (1, false)]);
        assert_eq!(kinds("[{\"a\":1} {\"b\":2}]"), [(0, true), (1, false)]);
    }

    #[test]
    fn arrays_are_found_by_key() {
        let doc = br#"{"type": "bundle", "objects" : [ {"x": 1}"#;
        assert_eq!(find_array_of(doc, "objects"), Some(31));
        assert_eq!(find_array_of(doc, "type"), None);
    }

    #[test]
    fn scores_take_numbers_and_text() {
        let v: Value = serde_json::json!({"a": 87, "b": 87.9, "c": "42", "d": -1, "e": "x"});
        assert_eq!(
            ["a", "b", "c", "d", "e"].map(|k| score_field(&v, k)),
            [Some(87), Some(87), Some(42), None, None]
        );
    }
}
