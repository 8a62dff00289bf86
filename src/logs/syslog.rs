//! Syslog headers shared by the line formats (and by the syslog listener):
//! RFC 3164 (BSD) `<PRI>Mmm dd hh:mm:ss host tag[pid]: msg` and RFC 5424
//! `<PRI>1 TIMESTAMP HOST APP PROCID MSGID [SD] MSG`. The `<PRI>` part is
//! optional everywhere: files written by a local syslog daemon drop it,
//! lines received over the network carry it.

use super::time::{bsd_time, rfc3339_prefix, Clock};

/// Splits a leading `<PRI>` (0..=191) off a line.
pub fn strip_pri(line: &str) -> (Option<u8>, &str) {
    let b = line.as_bytes();
    if b.first() != Some(&b'<') {
        return (None, line);
    }
    let end = match b.iter().take(5).position(|&c| c == b'>') {
        Some(e) if e >= 2 => e,
        _ => return (None, line),
    };
    match line[1..end].parse::<u8>() {
        Ok(p) if p <= 191 && line[1..end].bytes().all(|c| c.is_ascii_digit()) => {
            (Some(p), &line[end + 1..])
        }
        _ => (None, line),
    }
}

/// A parsed RFC 3164 header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bsd<'a> {
    /// (month, day, h, m, s), year and zone unknown.
    pub when: (u32, u32, u32, u32, u32),
    pub host: &'a str,
    /// The tag without its `[pid]` (`kernel`, `filterlog`, `sshd`); empty
    /// when the message has none.
    pub tag: &'a str,
    /// What follows `tag[pid]: ` (or the host when there is no tag).
    pub msg: &'a str,
}

impl Bsd<'_> {
    /// The header's time, read with the device's zone and year rules.
    pub fn time(&self, clock: &Clock) -> Option<i64> {
        let (mo, d, h, m, s) = self.when;
        clock.yearless(mo, d, h, m, s)
    }
}

/// Reads an RFC 3164 header (after an optional `<PRI>`).
pub fn bsd(line: &str) -> Option<Bsd<'_>> {
    let (_, rest) = strip_pri(line);
    let (when, rest) = bsd_time(rest)?;
    let rest = rest.strip_prefix(' ')?.trim_start();
    let (host, rest) = rest.split_once(' ').unwrap_or((rest, ""));
    let (tag, msg) = split_tag(rest);
    Some(Bsd {
        when,
        host,
        tag,
        msg,
    })
}

/// `tag[pid]: msg` or `tag: msg` → (tag, msg). A first word that does not
/// end in `:` (or `]:`) is not a tag: the whole text is the message.
fn split_tag(s: &str) -> (&str, &str) {
    let word_end = s.find(' ').unwrap_or(s.len());
    let word = &s[..word_end];
    if let Some(w) = word.strip_suffix(':') {
        let tag = match w.find('[') {
            Some(i) if w.ends_with(']') => &w[..i],
            _ => w,
        };
        let msg = s[word_end..].strip_prefix(' ').unwrap_or(&s[word_end..]);
        return (tag, msg);
    }
    ("", s)
}

/// A parsed RFC 5424 header. `-` fields are empty strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rfc5424<'a> {
    /// Unix seconds; None when the timestamp is `-`.
    pub time: Option<i64>,
    pub host: &'a str,
    pub app: &'a str,
    pub procid: &'a str,
    pub msgid: &'a str,
    /// The structured data, brackets included (`[meta sequenceId="1"]`), or
    /// empty.
    pub sd: &'a str,
    pub msg: &'a str,
}

/// Reads an RFC 5424 header (after an optional `<PRI>`): `1 TIMESTAMP HOST
/// APP PROCID MSGID SD MSG`.
pub fn rfc5424(line: &str) -> Option<Rfc5424<'_>> {
    let (_, rest) = strip_pri(line);
    let rest = rest.strip_prefix("1 ")?;
    let (time, rest) = if let Some(r) = rest.strip_prefix("- ") {
        (None, r)
    } else {
        let (t, r) = rfc3339_prefix(rest)?;
        (Some(t), r.strip_prefix(' ')?)
    };
    let mut fields = [""; 4];
    let mut rest = rest;
    for f in &mut fields {
        let (v, r) = rest.split_once(' ')?;
        *f = if v == "-" { "" } else { v };
        rest = r;
    }
    let (sd, msg) = split_sd(rest)?;
    Some(Rfc5424 {
        time,
        host: fields[0],
        app: fields[1],
        procid: fields[2],
        msgid: fields[3],
        sd,
        msg,
    })
}

/// Structured data (`-` or one or more `[id k="v" ...]`, with `\"`, `\\`
/// and `\]` escapes inside values) and the message after it. None when a
/// bracket is left open.
fn split_sd(s: &str) -> Option<(&str, &str)> {
    if let Some(r) = s.strip_prefix('-') {
        return Some(("", r.strip_prefix(' ').unwrap_or(r)));
    }
    let b = s.as_bytes();
    let mut i = 0;
    while b.get(i) == Some(&b'[') {
        let mut in_quotes = false;
        i += 1;
        loop {
            match *b.get(i)? {
                b'\\' if in_quotes => i += 1,
                b'"' => in_quotes = !in_quotes,
                b']' if !in_quotes => break,
                _ => {}
            }
            i += 1;
        }
        i += 1;
    }
    if i == 0 {
        // No structured data and no `-`: tolerate senders that omit it.
        return Some(("", s));
    }
    let msg = &s[i..];
    Some((&s[..i], msg.strip_prefix(' ').unwrap_or(msg)))
}

/// The `name="value"` parameters of structured data, unescaped, in order.
pub fn sd_params(sd: &str) -> Vec<(&str, String)> {
    let mut out = Vec::new();
    let b = sd.as_bytes();
    let mut i = 0;
    while i < b.len() {
        // A name runs up to `="`.
        let Some(eq) = sd[i..].find("=\"") else { break };
        let name_start = sd[..i + eq]
            .rfind(|c: char| c == ' ' || c == '[')
            .map_or(0, |p| p + 1);
        let name = &sd[name_start..i + eq];
        let mut j = i + eq + 2;
        let mut v = String::new();
        while j < b.len() && b[j] != b'"' {
            if b[j] == b'\\' && j + 1 < b.len() {
                j += 1;
            }
            let ch = sd[j..].chars().next().unwrap_or('\0');
            v.push(ch);
            j += ch.len_utf8();
        }
        if j >= b.len() {
            // Unterminated value: stop, the caller sees fewer parameters.
            break;
        }
        out.push((name, v));
        i = j + 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pri_is_optional() {
        assert_eq!(strip_pri("<134>1 x"), (Some(134), "1 x"));
        assert_eq!(strip_pri("<999>x"), (None, "<999>x"));
        assert_eq!(strip_pri("Nov"), (None, "Nov"));
    }

    #[test]
    fn bsd_header_with_and_without_pid() {
        let h = bsd("Nov  3 00:04:45 pfSense.home.arpa filterlog[51823]: 9,,,1000").unwrap();
        assert_eq!(
            (h.host, h.tag, h.msg),
            ("pfSense.home.arpa", "filterlog", "9,,,1000")
        );
        let h = bsd("<14>Nov  3 00:01:19 fw01 kernel: [1049659.935900] [UFW BLOCK] IN=").unwrap();
        assert_eq!(
            (h.tag, h.msg),
            ("kernel", "[1049659.935900] [UFW BLOCK] IN=")
        );
        let h = bsd("Nov  3 00:00:08 gw-mikrotik firewall,info WAN-ACCEPT input:").unwrap();
        assert_eq!((h.tag, h.msg), ("", "firewall,info WAN-ACCEPT input:"));
    }

    #[test]
    fn rfc5424_header_and_structured_data() {
        let h = rfc5424(
            "<134>1 2026-11-03T00:48:53+00:00 OPNsense.localdomain filterlog 60111 - [meta sequenceId=\"1\"] 74,,,02f4",
        )
        .unwrap();
        assert_eq!(
            (h.host, h.app, h.procid, h.msgid),
            ("OPNsense.localdomain", "filterlog", "60111", "")
        );
        assert_eq!((h.sd, h.msg), ("[meta sequenceId=\"1\"]", "74,,,02f4"));
        let p = sd_params("[junos@2636 source-address=\"10.20.3.227\" note=\"a \\\"q\\\" ]\"]");
        assert_eq!(p[0], ("source-address", "10.20.3.227".to_string()));
        assert_eq!(p[1], ("note", "a \"q\" ]".to_string()));
        assert!(rfc5424("<14>1 2026-11-03T00:06:38.674Z h a - m [open k=\"v\"").is_none());
    }
}
