//! Command line: parsed with clap, then validated into ready option structs
//! before any work starts.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};
use ipnet::IpNet;

use crate::lists;
use crate::responder::{self, tcp::TcpLimits, DnsOptions};
use crate::snapshot::{self, DeviceSpec, ListSpec, SnapshotWriter};

#[derive(Parser, Debug)]
#[command(
    name = "feedwall",
    version,
    about = "Threat-list DNS appliance: IP reputation feeds published as DNS names"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Build or inspect snapshot files.
    #[command(subcommand)]
    Snapshot(SnapshotCmd),
    /// Run the authoritative DNS responder on a snapshot.
    Dns(DnsArgs),
    /// Feed tools (try a feed's format before adding it).
    #[command(subcommand)]
    Feeds(FeedsCmd),
    /// Run the whole thing: responder and sidecar under one supervisor. With
    /// no --config, runs the embedded demo (demo feeds shipped in the binary).
    Up(UpArgs),
    /// Run the sidecar: fetch, parse, archive, publish snapshots.
    Control(ControlArgs),
    /// Which feeds list an address, now or at a past time, and its history.
    CheckIp(CheckIpArgs),
    /// Firewall log tools (try a log's format before sending it).
    #[command(subcommand)]
    Logs(LogsCmd),
    /// The bootable appliance image: first-boot setup, status console,
    /// boot commit and A/B upgrades.
    #[command(subcommand)]
    Appliance(crate::appliance::cli::ApplianceCmd),
    /// Benchmark helpers (bare reflector, TCP load client).
    #[command(subcommand, hide = true)]
    Bench(crate::bench_tools::BenchCmd),
}

#[derive(Subcommand, Debug)]
pub enum FeedsCmd {
    /// Parse a feed file and print its canonical entries (`network/prefix`,
    /// one per line), then a summary line on stderr.
    Parse(crate::feeds::cli::ParseArgs),
    /// Publish a feed's held-back version (the sanity gate stopped it).
    Accept {
        /// Feed id.
        feed: String,
        #[arg(long)]
        config: PathBuf,
    },
    /// Ask the running sidecar to fetch every feed now.
    FetchNow {
        #[arg(long)]
        config: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
pub enum LogsCmd {
    /// Parse a firewall log and print one JSON object per record, then a
    /// summary line on stderr.
    Parse(crate::logs::cli::ParseArgs),
    /// Check the log archive's hash chain: every stored batch and entry
    /// unchanged since it was written. Exit status 1 when it is broken.
    Verify(crate::logs::cli::VerifyArgs),
}

#[derive(Subcommand, Debug)]
pub enum SnapshotCmd {
    /// Build a snapshot from plain list files (one IP or CIDR per line).
    Build(BuildArgs),
    /// Print what a snapshot holds.
    Inspect(InspectArgs),
}

#[derive(Args, Debug)]
pub struct BuildArgs {
    /// Zone apex.
    #[arg(long, default_value = snapshot::writer::DEFAULT_ZONE)]
    pub zone: String,
    /// A list to publish, as NAME=FILE (repeatable).
    #[arg(long = "list", value_name = "NAME=FILE")]
    pub lists: Vec<String>,
    /// A device prefix allowed to query; it sees every list (repeatable).
    #[arg(long = "allow", value_name = "PREFIX")]
    pub allow: Vec<String>,
    /// Output snapshot file (written atomically).
    #[arg(long)]
    pub out: PathBuf,
    /// SOA serial; default: the larger of the Unix time and the serial of
    /// the existing output file plus one.
    #[arg(long)]
    pub serial: Option<u32>,
    /// TTL of published records, seconds.
    #[arg(long, default_value_t = snapshot::writer::DEFAULT_TTL)]
    pub ttl: u32,
    /// Declared capacity of a list in chunk names, NAME=N (repeatable).
    #[arg(long = "capacity", value_name = "NAME=N")]
    pub capacity: Vec<String>,
    /// Most A records per chunk name.
    #[arg(long, default_value_t = snapshot::writer::MAX_A_PER_NAME)]
    pub max_a: usize,
    /// Most AAAA records per chunk name.
    #[arg(long, default_value_t = snapshot::writer::MAX_AAAA_PER_NAME)]
    pub max_aaaa: usize,
    /// Widest IPv4 prefix expanded into host records.
    #[arg(long, default_value_t = lists::DEFAULT_EXPAND_V4)]
    pub expand_v4: u8,
    /// Widest IPv6 prefix expanded into host records.
    #[arg(long, default_value_t = lists::DEFAULT_EXPAND_V6)]
    pub expand_v6: u8,
    /// Address(es) of the zone's name server ns1.<zone> (glue; repeatable).
    #[arg(long = "ns-addr", value_name = "IP")]
    pub ns_addr: Vec<std::net::IpAddr>,
}

#[derive(Args, Debug)]
pub struct InspectArgs {
    pub path: PathBuf,
    /// Also list every name with its RRsets.
    #[arg(long)]
    pub names: bool,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct DnsArgs {
    /// Snapshot file to serve; replaced files are picked up automatically.
    #[arg(long)]
    pub snapshot: PathBuf,
    /// Address to serve on, UDP and TCP (repeatable; port 0 picks one).
    #[arg(long = "listen", default_value = responder::DEFAULT_LISTEN)]
    pub listen: Vec<SocketAddr>,
    /// Worker threads per protocol (default: one per core).
    #[arg(long)]
    pub workers: Option<usize>,
    /// Write {"listen":[...],"serial":N,"pid":N} here once serving.
    #[arg(long)]
    pub ready_file: Option<PathBuf>,
    /// Write counters as JSON here every second.
    #[arg(long)]
    pub stats_file: Option<PathBuf>,
    /// Close TCP connections idle this long (seconds).
    #[arg(long, default_value_t = responder::tcp::DEFAULT_IDLE_TIMEOUT.as_secs())]
    pub tcp_idle_timeout: u64,
    /// Most simultaneous TCP connections.
    #[arg(long, default_value_t = responder::tcp::DEFAULT_MAX_CONNECTIONS)]
    pub tcp_max_connections: usize,
    /// UDP I/O: batched recvmmsg/sendmmsg, or io_uring (multishot receive,
    /// provided buffers; falls back to recvmmsg where unavailable).
    #[arg(long, value_enum, default_value_t = responder::UdpIo::default())]
    pub udp_io: responder::UdpIo,
}

#[derive(Args, Debug)]
pub struct UpArgs {
    /// Config file; without it, the embedded demo runs in --data.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Data directory of the embedded demo.
    #[arg(long, default_value = crate::config::defaults::DATA_DIR)]
    pub data: PathBuf,
    /// DNS listen address (overrides the config; repeatable).
    #[arg(long = "listen")]
    pub listen: Vec<SocketAddr>,
    /// Write the responder's ready file here once serving.
    #[arg(long)]
    pub ready_file: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct ControlArgs {
    /// Config file.
    #[arg(long)]
    pub config: PathBuf,
    /// Fetch every feed once, publish, print progress, and exit.
    #[arg(long)]
    pub once: bool,
}

#[derive(Args, Debug)]
pub struct CheckIpArgs {
    /// IPv4 or IPv6 address.
    pub addr: String,
    /// A past time (RFC 3339, `YYYY-MM-DD HH:MM` UTC, or `@unix`).
    #[arg(long)]
    pub at: Option<String>,
    /// Config file (for its data directory).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Data directory (when no --config).
    #[arg(long, default_value = crate::config::defaults::DATA_DIR)]
    pub data: PathBuf,
}

/// Parses `NAME=VALUE`.
fn split_pair<'a>(s: &'a str, what: &str) -> anyhow::Result<(&'a str, &'a str)> {
    match s.split_once('=') {
        Some((n, v)) if !n.is_empty() && !v.is_empty() => Ok((n, v)),
        _ => bail!("{what} must be NAME=VALUE, got {s:?}"),
    }
}

impl DnsArgs {
    pub fn validate(self) -> anyhow::Result<DnsOptions> {
        let workers = self.workers.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        });
        if workers == 0 || workers > 256 {
            bail!("--workers must be between 1 and 256");
        }
        if self.tcp_max_connections == 0 {
            bail!("--tcp-max-connections must be at least 1");
        }
        if self.tcp_idle_timeout == 0 {
            bail!("--tcp-idle-timeout must be at least 1 second");
        }
        Ok(DnsOptions {
            snapshot: self.snapshot,
            listen: self.listen,
            workers,
            ready_file: self.ready_file,
            stats_file: self.stats_file,
            tcp: TcpLimits {
                idle_timeout: Duration::from_secs(self.tcp_idle_timeout),
                max_connections: self.tcp_max_connections,
                ..TcpLimits::default()
            },
            udp_io: self.udp_io,
        })
    }
}

/// Serial for a new snapshot at `out`: rises over the existing file's.
pub fn next_serial(out: &Path) -> u32 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as u32)
        .unwrap_or(1);
    match snapshot::peek_serial(out) {
        Some(prev) => now.max(prev.wrapping_add(1)),
        None => now,
    }
}

impl BuildArgs {
    /// Reads the list files and returns a ready writer plus per-list bad line
    /// counts (reported, not fatal).
    pub fn into_writer(
        self,
    ) -> anyhow::Result<(
        SnapshotWriter,
        Vec<(String, usize, Vec<lists::BadLine>)>,
        PathBuf,
    )> {
        if self.lists.is_empty() {
            bail!("give at least one --list NAME=FILE");
        }
        if self.expand_v4 > 32 || self.expand_v6 > 128 {
            bail!("--expand-v4 must be at most 32 and --expand-v6 at most 128");
        }
        let zone = crate::config::ZoneConfig {
            apex: self.zone.clone(),
            ttl: self.ttl,
            negative_ttl: snapshot::writer::DEFAULT_NEGATIVE_TTL,
            max_a_per_name: self.max_a,
            max_aaaa_per_name: self.max_aaaa,
            expand_v4: self.expand_v4,
            expand_v6: self.expand_v6,
            ns_addrs: self.ns_addr.clone(),
        }
        .settings()
        .with_context(|| format!("--zone {:?}", self.zone))?;
        let mut caps = std::collections::HashMap::new();
        for c in &self.capacity {
            let (n, v) = split_pair(c, "--capacity")?;
            let v: u32 = v
                .parse()
                .with_context(|| format!("--capacity {c:?}: not a number"))?;
            if v == 0 || v > 100_000 {
                bail!("--capacity {c:?}: must be between 1 and 100000 chunk names");
            }
            caps.insert(n.to_ascii_lowercase(), v);
        }
        let serial = self.serial.unwrap_or_else(|| next_serial(&self.out));
        let mut w = SnapshotWriter::new(zone, serial);
        let mut reports = Vec::new();
        for l in &self.lists {
            let (name, file) = split_pair(l, "--list")?;
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("--list {name}: cannot read {file}"))?;
            let (nets, bad) = lists::parse_plain(&text);
            reports.push((name.to_string(), nets.len(), bad));
            w.lists.push(ListSpec {
                name: name.to_string(),
                audience: snapshot::AUDIENCE_ALL,
                capacity: caps.remove(&name.to_ascii_lowercase()),
                nets,
                source: format!("file:{file}"),
            });
        }
        if let Some(unknown) = caps.keys().next() {
            bail!("--capacity names list {unknown:?}, which no --list defines");
        }
        let mut prefixes = Vec::new();
        for a in &self.allow {
            let net: IpNet = lists::parse_net(a)
                .with_context(|| format!("--allow {a:?}: not an IP address or prefix"))?;
            prefixes.push(net);
        }
        w.accounts.push((0, "static".into()));
        for (i, p) in prefixes.into_iter().enumerate() {
            w.devices.push(DeviceSpec {
                key: 0,
                name: format!("allow-{i}"),
                account: 0,
                prefixes: vec![p],
            });
        }
        Ok((w, reports, self.out))
    }
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Snapshot(SnapshotCmd::Build(args)) => {
            let (writer, reports, out) = args.into_writer()?;
            for (name, count, bad) in &reports {
                eprintln!("list {name}: {count} entries read, {} bad lines", bad.len());
                for b in bad.iter().take(5) {
                    eprintln!("  line {}: {:?}", b.line, b.text);
                }
                if bad.len() > 5 {
                    eprintln!("  ... and {} more", bad.len() - 5);
                }
            }
            let snap = writer
                .write(&out)
                .with_context(|| format!("cannot build snapshot {}", out.display()))?;
            eprintln!(
                "wrote {} (serial {}, {} names, {} devices)",
                out.display(),
                snap.serial,
                snap.names.len(),
                snap.devices.len()
            );
            Ok(())
        }
        Command::Snapshot(SnapshotCmd::Inspect(args)) => {
            let snap = snapshot::MappedSnapshot::open(&args.path)
                .with_context(|| format!("cannot load {}", args.path.display()))?;
            if args.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&crate::inspect::json(snap.get(), args.names))?
                );
            } else {
                print!("{}", crate::inspect::text(snap.get(), args.names));
            }
            Ok(())
        }
        Command::Dns(args) => responder::run(args.validate()?),
        Command::Feeds(FeedsCmd::Parse(args)) => args.run(),
        Command::Logs(LogsCmd::Parse(args)) => args.run(),
        Command::Logs(LogsCmd::Verify(args)) => args.run(),
        Command::Feeds(FeedsCmd::Accept { feed, config }) => {
            crate::control::sidecar::accept_command(&crate::config::Config::load(&config)?, &feed)
        }
        Command::Feeds(FeedsCmd::FetchNow { config }) => {
            let pid = crate::control::sidecar::signal_running(
                &crate::config::Config::load(&config)?.data_dir,
            )?;
            eprintln!("asked the sidecar (pid {pid}) to fetch every feed now");
            Ok(())
        }
        Command::Up(args) => up(args),
        Command::Control(args) => crate::control::sidecar::run_command(&args.config, args.once),
        Command::CheckIp(args) => {
            let data = match &args.config {
                Some(c) => crate::config::Config::load(c)?.data_dir,
                None => args.data.clone(),
            };
            crate::archive::check_ip_command(
                &data.join(crate::control::sidecar::ARCHIVE_FILE),
                &args.addr,
                args.at.as_deref(),
            )
        }
        Command::Appliance(cmd) => cmd.run(),
        Command::Bench(cmd) => crate::bench_tools::run(cmd),
    }
}

/// `feedwall up`: responder and sidecar under one supervisor.
fn up(args: UpArgs) -> anyhow::Result<()> {
    let plan = crate::control::supervisor::plan(
        args.config.as_deref(),
        &args.data,
        &args.listen,
        args.ready_file,
    )?;
    let c = &plan.config;
    eprintln!(
        "feedwall: config {}, data in {}",
        plan.config_path.display(),
        c.data_dir.display()
    );
    let listen: Vec<String> = c.dns.listen.iter().map(|l| l.to_string()).collect();
    eprintln!(
        "DNS on {} (UDP and TCP); devices: {}",
        listen.join(", "),
        c.devices
            .iter()
            .flat_map(|d| d.prefixes.iter().map(|p| p.to_string()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    eprintln!(
        "lookups (names <i>.<list>.{}, i = 0 .. capacity-1):",
        c.zone.apex
    );
    for l in &c.lists {
        eprintln!(
            "  {:<12} from {:<40} names 0..{}.{}.{}",
            l.name,
            l.feeds.join(", "),
            l.capacity - 1,
            l.name,
            c.zone.apex
        );
    }
    if let Some(first) = c.dns.listen.first() {
        let (host, port) = (first.ip(), first.port());
        if let Some(l) = c.lists.first() {
            eprintln!("try:");
            eprintln!(
                "  dig @{host} -p {port} {}.{} TXT       # chunks, entries, freshness",
                l.name, c.zone.apex
            );
            eprintln!("  dig @{host} -p {port} 0.{}.{} A", l.name, c.zone.apex);
        }
    }
    crate::control::supervisor::run(plan)
}
