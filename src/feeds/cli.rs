//! `feedwall feeds parse --format FORMAT FILE`: the parser as a command.
//!
//! Contract (operators try a feed with it before adding it; outside checks
//! use it too): stdout gets the canonical entries, one per line as
//! `network/prefix` (IPv6 in RFC 5952 form), in canonical order; stderr
//! gets one summary line:
//!
//! ```text
//! feeds parse: format=ip_range entries=323 ipv4=255 ipv6=68 records=42 rejected=3 ignored=0 duplicates=0 skipped=4
//! ```
//!
//! `--format auto` guesses the format (the summary names the guess). Bad
//! records never make the command fail; with `--verbose` every rejected and
//! ignored record is listed on stderr before the summary. `FILE` `-` reads
//! standard input.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::{detect, parse, Column, Format, FormatOptions, Parsed, NAMES};

/// Names accepted by `--format`, for help texts (`auto` first).
pub fn format_names() -> &'static [&'static str] {
    NAMES
}

/// The arguments of `feeds parse`, ready to embed in the CLI.
#[derive(clap::Args, Debug, Clone)]
pub struct ParseArgs {
    /// Feed format: auto (guess from the content), plain, ip_range,
    /// dshield_block, spamhaus_drop_txt, spamhaus_drop_json, feodo,
    /// phishtank, firehol_netset, tor_exit, generic_csv, generic_json, rss,
    /// stix21.
    #[arg(long, default_value = "auto")]
    pub format: String,
    /// The feed file (`-` for standard input).
    pub file: PathBuf,
    /// generic_csv: the address column, by header name or 0-based index.
    #[arg(long)]
    pub column: Option<String>,
    /// generic_json: the address member, a dotted path.
    #[arg(long)]
    pub field: Option<String>,
    /// generic_csv: field delimiter (default: guessed).
    #[arg(long)]
    pub delimiter: Option<char>,
    /// List every rejected and ignored record on stderr.
    #[arg(long)]
    pub verbose: bool,
}

impl ParseArgs {
    pub fn run(&self) -> anyhow::Result<()> {
        let opts = FormatOptions {
            column: self
                .column
                .as_deref()
                .map(|c| c.parse::<Column>().unwrap_or_else(|never| match never {})),
            field: self.field.clone(),
            delimiter: self.delimiter,
            header: None,
        };
        run(
            &self.format,
            &self.file,
            &opts,
            self.verbose,
            &mut io::stdout().lock(),
            &mut io::stderr().lock(),
        )
    }
}

/// `feeds parse`: `format` is a name of [`format_names`]; `column` and
/// `field` are the generic formats' options.
pub fn parse_command(
    format: &str,
    path: &Path,
    column: Option<&str>,
    field: Option<&str>,
) -> anyhow::Result<()> {
    let opts = FormatOptions {
        column: column.map(|c| c.parse::<Column>().unwrap_or_else(|never| match never {})),
        field: field.map(str::to_owned),
        ..FormatOptions::default()
    };
    run(
        format,
        path,
        &opts,
        false,
        &mut io::stdout().lock(),
        &mut io::stderr().lock(),
    )
}

/// The command with its output streams given (tests use buffers).
pub fn run(
    format: &str,
    path: &Path,
    opts: &FormatOptions,
    verbose: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<()> {
    let format: Format = format.parse()?;
    let input = read_input(path)?;
    let format = match format {
        Format::Auto => detect(&input),
        f => f,
    };
    let parsed = parse(&input, format, opts);
    match write_entries(&parsed, out) {
        // `feedwall feeds parse ... | head` is fine.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
        r => r.context("writing entries")?,
    }
    if verbose {
        for p in &parsed.rejected {
            writeln!(err, "rejected {p}")?;
        }
        for p in &parsed.ignored {
            writeln!(err, "ignored {p}")?;
        }
    }
    writeln!(err, "{}", summary(format, &parsed))?;
    Ok(())
}

fn read_input(path: &Path) -> anyhow::Result<Vec<u8>> {
    if path.as_os_str() == "-" {
        let mut v = Vec::new();
        io::stdin()
            .read_to_end(&mut v)
            .context("reading standard input")?;
        return Ok(v);
    }
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

/// One `network/prefix` per line.
pub fn write_entries(parsed: &Parsed, out: &mut dyn Write) -> io::Result<()> {
    let mut w = io::BufWriter::with_capacity(1 << 16, out);
    for e in &parsed.entries {
        writeln!(w, "{}", e.net)?;
    }
    w.flush()
}

/// The summary line.
pub fn summary(format: Format, p: &Parsed) -> String {
    format!(
        "feeds parse: format={} entries={} ipv4={} ipv6={} records={} rejected={} ignored={} duplicates={} skipped={}",
        format,
        p.entries.len(),
        p.ipv4(),
        p.ipv6(),
        p.counts.records,
        p.counts.rejected,
        p.counts.ignored,
        p.counts.duplicates,
        p.counts.skipped_non_records
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_entries_then_one_summary_line() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("feed.txt");
        std::fs::write(&f, "# x\n2001:DB8:0::1\n1.2.3.4/24\nbad\n1.2.3.0/24\n").unwrap();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        run(
            "auto",
            &f,
            &FormatOptions::default(),
            false,
            &mut out,
            &mut err,
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "1.2.3.0/24\n2001:db8::1/128\n"
        );
        assert_eq!(
            String::from_utf8(err).unwrap(),
            "feeds parse: format=plain entries=2 ipv4=1 ipv6=1 records=3 rejected=1 ignored=0 duplicates=1 skipped=1\n"
        );
        let (mut out, mut err) = (Vec::new(), Vec::new());
        run(
            "plain",
            &f,
            &FormatOptions::default(),
            true,
            &mut out,
            &mut err,
        )
        .unwrap();
        assert!(String::from_utf8(err)
            .unwrap()
            .starts_with("rejected line 4: not an IP address\n"));
    }

    #[test]
    fn unknown_formats_and_missing_files_are_errors() {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let e = run(
            "nope",
            Path::new("/nonexistent"),
            &FormatOptions::default(),
            false,
            &mut out,
            &mut err,
        )
        .unwrap_err();
        assert!(e.to_string().contains("unknown feed format"), "{e}");
        let e = run(
            "plain",
            Path::new("/nonexistent/feed"),
            &FormatOptions::default(),
            false,
            &mut out,
            &mut err,
        )
        .unwrap_err();
        assert!(
            format!("{e:#}").contains("reading /nonexistent/feed"),
            "{e:#}"
        );
    }

    #[test]
    fn names_start_with_auto() {
        assert_eq!(format_names()[0], "auto");
        assert!(format_names().contains(&"stix21"));
    }
}
