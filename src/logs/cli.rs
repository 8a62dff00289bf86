//! `feedwall logs parse [--format FORMAT] [--tz ZONE] [--year YEAR] FILE`:
//! the log parsers as a command (a contract, like `feeds parse`).
//!
//! stdout gets one JSON object per record, in file order:
//!
//! ```text
//! {"line":1,"format":"iptables","time":"2026-11-03T00:01:19Z","action":"block","proto":"tcp","src":"5.180.226.198","sport":46883,"dst":"198.51.100.2","dport":3306,"count":1,"flags":"S","icmp_type":null,"icmp_code":null}
//! ```
//!
//! stderr gets one summary line:
//!
//! ```text
//! logs parse: format=iptables records=900 rejected=3 ignored=45 skipped=0
//! ```
//!
//! Without `--format` the format is detected per line (the summary names
//! the format that gave most records). `--verbose` lists every rejected
//! line with its reason before the summary. `FILE` `-` reads standard input;
//! gzip input is read as such.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::PathBuf;

use anyhow::Context;

use super::formats::{Format, LineParser, Outcome};
use super::reader::{maybe_gunzip, parse_stream, Summary};
use super::record::LogRecord;
use super::time::{rfc3339, Clock, Zone};

#[derive(clap::Args, Debug, Clone)]
pub struct ParseArgs {
    /// Log format (default: detected per line): dshield, iptables, nftables,
    /// pf, filterlog, cisco_asa, fortigate, panos, windows_firewall,
    /// mikrotik, juniper_srx.
    #[arg(long)]
    pub format: Option<String>,
    /// Zone of times the log prints without one: UTC, an offset (+01:00) or
    /// an IANA zone (Europe/Berlin).
    #[arg(long, default_value = "UTC")]
    pub tz: String,
    /// Year of dates printed without one (default: the current year, the
    /// previous one for dates that would lie in the future).
    #[arg(long)]
    pub year: Option<i32>,
    /// List every rejected line with its reason on stderr.
    #[arg(long)]
    pub verbose: bool,
    /// The log file (`-` for standard input).
    pub file: PathBuf,
}

impl ParseArgs {
    pub fn run(&self) -> anyhow::Result<()> {
        let format = match &self.format {
            Some(f) if f != "auto" => Some(f.parse::<Format>()?),
            _ => None,
        };
        let zone: Zone = self.tz.parse()?;
        let clock = Clock::new(zone, self.year);
        let input: Box<dyn Read> = if self.file.as_os_str() == "-" {
            Box::new(io::stdin().lock())
        } else {
            Box::new(
                File::open(&self.file)
                    .with_context(|| format!("opening {}", self.file.display()))?,
            )
        };
        let mut out = io::BufWriter::new(io::stdout().lock());
        let mut err = io::stderr().lock();
        let summary = run(format, clock, input, self.verbose, &mut out, &mut err);
        match summary {
            Err(e) if is_broken_pipe(&e) => Ok(()),
            Err(e) => Err(e),
            Ok(s) => {
                writeln!(err, "{}", summary_line(format, &s))?;
                Ok(())
            }
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.downcast_ref::<io::Error>()
        .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
}

/// The command with its streams given (tests use buffers).
pub fn run(
    format: Option<Format>,
    clock: Clock,
    input: impl Read,
    verbose: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<Summary> {
    let mut parser = LineParser::new(format, clock);
    let input = maybe_gunzip(input).context("reading the log")?;
    let summary = parse_stream::<_, anyhow::Error>(input, &mut parser, |line| {
        match &line.outcome {
            Outcome::Record(r) => {
                let f = line.format.map_or("", Format::name);
                writeln!(out, "{}", record_json(line.number, f, r))?;
            }
            Outcome::Rejected(why) if verbose => {
                writeln!(err, "rejected line {}: {why}", line.number)?;
            }
            _ => {}
        }
        Ok(())
    })?;
    out.flush()?;
    Ok(summary)
}

/// One record as the contract's JSON object.
pub fn record_json(line: u64, format: &str, r: &LogRecord) -> String {
    let v = serde_json::json!({
        "line": line,
        "format": format,
        "time": rfc3339(r.time),
        "action": r.action.as_str(),
        "proto": r.proto.to_string(),
        "src": r.src.to_string(),
        "sport": r.sport,
        "dst": r.dst.to_string(),
        "dport": r.dport,
        "count": r.count,
        "flags": r.flags.map(|f| f.to_string()),
        "icmp_type": r.icmp.map(|i| i.0),
        "icmp_code": r.icmp.map(|i| i.1),
    });
    v.to_string()
}

/// `logs parse: format=iptables records=900 rejected=3 ignored=45 skipped=0`.
pub fn summary_line(format: Option<Format>, s: &Summary) -> String {
    let name = match format {
        Some(f) => f.name(),
        None => s.main_format().unwrap_or("unknown"),
    };
    format!(
        "logs parse: format={name} records={} rejected={} ignored={} skipped={}",
        s.total.records, s.total.rejected, s.total.ignored, s.total.skipped
    )
}

/// `feedwall logs verify [--config FILE | --data DIR]`.
#[derive(clap::Args, Debug, Clone)]
pub struct VerifyArgs {
    /// Config file (for its data directory).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Data directory (when no --config).
    #[arg(long, default_value = crate::config::defaults::DATA_DIR)]
    pub data: PathBuf,
}

impl VerifyArgs {
    pub fn run(&self) -> anyhow::Result<()> {
        let data = match &self.config {
            Some(c) => crate::config::Config::load(c)?.data_dir,
            None => self.data.clone(),
        };
        let path = data.join(super::store::FILE_NAME);
        if !path.exists() {
            anyhow::bail!("no log archive at {}", path.display());
        }
        let store = super::store::LogStore::open_read_only(&path)?;
        let v = store.verify()?;
        match v.broken {
            None => {
                println!(
                    "logs verify: chain intact: {} batches, {} entries ({})",
                    v.batches,
                    v.entries,
                    path.display()
                );
                Ok(())
            }
            Some((batch, why)) => anyhow::bail!(
                "logs verify: chain BROKEN at batch {batch}: {why} ({} batches before it verified)",
                v.batches
            ),
        }
    }
}
