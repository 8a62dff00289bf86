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
use crate::snapshot::{self, DeviceSpec, ListSpec, SnapshotWriter, ZoneSettings};

#[derive(Parser, Debug)]
#[command(name = "feedwall", version, about = "Threat-list DNS appliance: IP reputation feeds published as DNS names")]
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
    /// Run feedwall on the embedded demo: builds a snapshot from the demo
    /// lists shipped in the binary and serves it.
    Up(UpArgs),
    /// Benchmark helpers (bare reflector, TCP load client).
    #[command(subcommand, hide = true)]
    Bench(crate::bench_tools::BenchCmd),
}

#[derive(Subcommand, Debug)]
pub enum FeedsCmd {
    /// Parse a feed file and print its canonical entries (`network/prefix`,
    /// one per line), then a summary line on stderr.
    Parse(crate::feeds::cli::ParseArgs),
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
    /// Data directory (snapshot, stats).
    #[arg(long, default_value = "feedwall-data")]
    pub data: PathBuf,
    /// DNS listen address.
    #[arg(long = "listen", default_value = responder::DEFAULT_LISTEN)]
    pub listen: Vec<SocketAddr>,
    /// Write the ready file here once serving.
    #[arg(long)]
    pub ready_file: Option<PathBuf>,
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
        let workers = self.workers.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
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
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as u32).unwrap_or(1);
    match snapshot::peek_serial(out) {
        Some(prev) => now.max(prev.wrapping_add(1)),
        None => now,
    }
}

impl BuildArgs {
    /// Reads the list files and returns a ready writer plus per-list bad line
    /// counts (reported, not fatal).
    pub fn into_writer(self) -> anyhow::Result<(SnapshotWriter, Vec<(String, usize, Vec<lists::BadLine>)>, PathBuf)> {
        if self.lists.is_empty() {
            bail!("give at least one --list NAME=FILE");
        }
        if self.expand_v4 > 32 || self.expand_v6 > 128 {
            bail!("--expand-v4 must be at most 32 and --expand-v6 at most 128");
        }
        let mut zone = ZoneSettings::new(&self.zone).with_context(|| format!("--zone {:?}", self.zone))?;
        zone.ttl = self.ttl;
        zone.max_a_per_name = self.max_a;
        zone.max_aaaa_per_name = self.max_aaaa;
        zone.expand_v4 = self.expand_v4;
        zone.expand_v6 = self.expand_v6;
        if !self.ns_addr.is_empty() {
            zone.nameservers[0].1 = self.ns_addr.clone();
        }
        let mut caps = std::collections::HashMap::new();
        for c in &self.capacity {
            let (n, v) = split_pair(c, "--capacity")?;
            let v: u32 = v.parse().with_context(|| format!("--capacity {c:?}: not a number"))?;
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
            let text = std::fs::read_to_string(file).with_context(|| format!("--list {name}: cannot read {file}"))?;
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
            let net: IpNet = lists::parse_net(a).with_context(|| format!("--allow {a:?}: not an IP address or prefix"))?;
            prefixes.push(net);
        }
        w.accounts.push((0, "static".into()));
        for (i, p) in prefixes.into_iter().enumerate() {
            w.devices.push(DeviceSpec { name: format!("allow-{i}"), account: 0, prefixes: vec![p] });
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
            let snap = writer.write(&out).with_context(|| format!("cannot build snapshot {}", out.display()))?;
            eprintln!("wrote {} (serial {}, {} names, {} devices)", out.display(), snap.serial, snap.names.len(), snap.devices.len());
            Ok(())
        }
        Command::Snapshot(SnapshotCmd::Inspect(args)) => {
            let snap = snapshot::MappedSnapshot::open(&args.path).with_context(|| format!("cannot load {}", args.path.display()))?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&crate::inspect::json(snap.get(), args.names))?);
            } else {
                print!("{}", crate::inspect::text(snap.get(), args.names));
            }
            Ok(())
        }
        Command::Dns(args) => responder::run(args.validate()?),
        Command::Feeds(FeedsCmd::Parse(args)) => args.run(),
        Command::Up(args) => up(args),
        Command::Bench(cmd) => crate::bench_tools::run(cmd),
    }
}

/// `feedwall up`: the embedded demo.
fn up(args: UpArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.data).with_context(|| format!("cannot create {}", args.data.display()))?;
    let path = args.data.join("snapshot.fw");
    let devices: Vec<IpNet> = vec!["127.0.0.1/32".parse()?, "::1/128".parse()?];
    let (snap, bad) = crate::demo::build(&path, &devices)?;
    let listen = args.listen.first().copied().context("no --listen")?;
    eprintln!("feedwall demo: snapshot {} (serial {}), devices 127.0.0.1 and ::1", path.display(), snap.serial);
    for (name, n) in &bad {
        if *n > 0 {
            eprintln!("  list {name}: {n} bad lines skipped");
        }
    }
    eprintln!("lists (query <i>.<list>.{}, i = 0..capacity-1):", snapshot::writer::DEFAULT_ZONE);
    for l in &snap.lists {
        eprintln!("  {:<12} {:>6} IPv4 hosts {:>5} IPv6 hosts {:>3} wide nets, {} chunk(s) with data, capacity {}", l.name, l.v4_hosts, l.v6_hosts, l.wide_v4.len() + l.wide_v6.len(), l.chunks, l.capacity);
    }
    let (host, port) = (listen.ip(), listen.port());
    eprintln!("try:");
    eprintln!("  dig @{host} -p {port} attackers.{} TXT", snapshot::writer::DEFAULT_ZONE);
    eprintln!("  dig @{host} -p {port} 0.attackers.{} A", snapshot::writer::DEFAULT_ZONE);
    eprintln!("  dig @{host} -p {port} 0.demo-large.{} A +tcp   (4000 records)", snapshot::writer::DEFAULT_ZONE);
    let opts = DnsArgs {
        snapshot: path,
        listen: args.listen,
        workers: None,
        ready_file: args.ready_file,
        stats_file: Some(args.data.join("dns-stats.json")),
        tcp_idle_timeout: responder::tcp::DEFAULT_IDLE_TIMEOUT.as_secs(),
        tcp_max_connections: responder::tcp::DEFAULT_MAX_CONNECTIONS,
        udp_io: responder::UdpIo::default(),
    }
    .validate()?;
    responder::run(opts)
}
