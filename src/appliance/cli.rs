//! `feedwall appliance ...`: arguments, validated into each command's
//! options.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};

use super::{
    clock, commit, console, grow, network, setup, upgrade, Slot, BOOT_DIR, DATA_DIR, RUN_DIR,
};

#[derive(Subcommand, Debug)]
pub enum ApplianceCmd {
    /// Prepare the data partition (every boot, before `up`): layout
    /// version, the appliance config (written once), the operator account
    /// and its first-boot password.
    Setup(SetupArgs),
    /// The status screen on a terminal (no shell; input is ignored).
    Console(ConsoleArgs),
    /// Wait until DNS and the admin page are up, then make the booted boot
    /// entry the default (ends a trial boot); record a failed upgrade.
    /// Exit status 1 when the services do not come up in time.
    Commit(CommitArgs),
    /// Verify an upgrade bundle and install it into the boot slot not
    /// booted; it starts at the next boot (one try, then back).
    Upgrade(UpgradeArgs),
    /// Grow the data partition and its file system (mounted) into free
    /// space at the disk's end, after the disk was made bigger (every boot;
    /// nothing to do most of the time).
    Grow(GrowArgs),
    /// Keep the system clock right by SNTP: the operator's servers
    /// (`SETTINGS/ntp`), else DHCP's, else pool.ntp.org (respawned by
    /// init; writes RUN/clock.json).
    Clock(ClockArgs),
    /// Network settings saved on the admin page: `begin` (at boot, before
    /// the network) starts their trial or ends an unconfirmed one; `watch`
    /// (once the services run) puts the previous ones back and reboots
    /// unless the operator confirms in time.
    Network(NetworkArgs),
}

fn slot(s: &str) -> Result<Slot, String> {
    Slot::parse(s).ok_or_else(|| "use a or b".to_string())
}

fn duration(s: &str) -> Result<Duration, String> {
    crate::config::parse_duration(s)
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("{s:?} is not a duration (e.g. 600s, 10m)"))
}

fn size(s: &str) -> Result<u64, String> {
    crate::config::parse_size(s)
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("{s:?} is not a size (e.g. 512MiB)"))
}

#[derive(Args, Debug)]
pub struct SetupArgs {
    /// The data partition's mount point.
    #[arg(long, default_value = DATA_DIR)]
    pub data: PathBuf,
    /// The per-boot directory (tmpfs) for the one-time password.
    #[arg(long, default_value = RUN_DIR)]
    pub run: PathBuf,
    /// The ESP's mount point (written into a new config).
    #[arg(long, default_value = BOOT_DIR)]
    pub boot: PathBuf,
}

#[derive(Args, Debug)]
pub struct ConsoleArgs {
    /// Terminal to draw on (default: standard output).
    #[arg(long)]
    pub tty: Option<PathBuf>,
    /// A serial line: print the block only when it changes, no screen
    /// clearing.
    #[arg(long)]
    pub serial: bool,
    #[arg(long, default_value = DATA_DIR)]
    pub data: PathBuf,
    #[arg(long, default_value = BOOT_DIR)]
    pub boot: PathBuf,
    #[arg(long, default_value = RUN_DIR)]
    pub run: PathBuf,
    /// Print the block once to standard output and exit.
    #[arg(long)]
    pub once: bool,
    /// The booted slot instead of the kernel command line's (tests).
    #[arg(long, hide = true, value_parser = slot)]
    pub slot: Option<Slot>,
}

#[derive(Args, Debug)]
pub struct CommitArgs {
    #[arg(long, default_value = BOOT_DIR)]
    pub boot: PathBuf,
    #[arg(long, default_value = DATA_DIR)]
    pub data: PathBuf,
    #[arg(long, default_value = RUN_DIR)]
    pub run: PathBuf,
    /// How long the services get to come up.
    #[arg(long, default_value = "600s", value_parser = duration)]
    pub timeout: Duration,
    /// The booted slot instead of the kernel command line's (tests).
    #[arg(long, hide = true, value_parser = slot)]
    pub slot: Option<Slot>,
}

#[derive(Args, Debug)]
pub struct UpgradeArgs {
    /// The bundle (`feedwall-upgrade.tar`).
    pub bundle: PathBuf,
    #[arg(long, default_value = BOOT_DIR)]
    pub boot: PathBuf,
    /// Reboot into the new build once it is installed.
    #[arg(long)]
    pub reboot: bool,
    /// Largest bundle accepted.
    #[arg(long, default_value = "512MiB", value_parser = size)]
    pub max_size: u64,
    /// The booted slot instead of the kernel command line's (tests).
    #[arg(long, hide = true, value_parser = slot)]
    pub slot: Option<Slot>,
}

#[derive(Args, Debug)]
pub struct GrowArgs {
    /// The data partition's device (e.g. /dev/vda2).
    #[arg(long)]
    pub partition: PathBuf,
    /// Where it is mounted.
    #[arg(long, default_value = DATA_DIR)]
    pub data: PathBuf,
}

#[derive(Args, Debug)]
pub struct ClockArgs {
    /// The operator's settings directory (the `ntp` file).
    #[arg(long, default_value = super::SETTINGS_DIR)]
    pub settings: PathBuf,
    #[arg(long, default_value = RUN_DIR)]
    pub run: PathBuf,
    /// Step or slew the system clock (the image's init passes it); without
    /// it the offset is only measured and reported.
    #[arg(long)]
    pub set: bool,
    /// One round, print the result, exit (status 1 if no server answered).
    #[arg(long)]
    pub once: bool,
}

#[derive(Args, Debug)]
pub struct NetworkArgs {
    /// `begin` or `watch`.
    #[arg(value_parser = ["begin", "watch"])]
    pub step: String,
    /// The operator's settings directory (the `network` files).
    #[arg(long, default_value = super::SETTINGS_DIR)]
    pub settings: PathBuf,
    /// `watch`: reboot after putting the previous settings back.
    #[arg(long)]
    pub reboot: bool,
}

impl ApplianceCmd {
    pub fn run(self) -> anyhow::Result<()> {
        match self {
            ApplianceCmd::Setup(a) => {
                let o = setup::SetupOptions {
                    data: a.data,
                    run: a.run,
                    boot: a.boot,
                    ipv6: std::path::Path::new("/proc/net/if_inet6").exists(),
                };
                for line in setup::run(&o)? {
                    println!("{line}");
                }
                Ok(())
            }
            ApplianceCmd::Console(a) => console::run(&console::ConsoleOptions {
                tty: a.tty,
                serial: a.serial,
                data: a.data,
                boot: a.boot,
                run: a.run,
                once: a.once,
                slot: a.slot,
            }),
            ApplianceCmd::Commit(a) => {
                let said = commit::run(&commit::CommitOptions {
                    boot: a.boot,
                    data: a.data,
                    run: a.run,
                    timeout: a.timeout,
                    slot: a.slot,
                })?;
                for line in said {
                    println!("{line}");
                }
                Ok(())
            }
            ApplianceCmd::Upgrade(a) => {
                let booted = super::booted_slot(a.slot);
                let i = upgrade::install(&a.bundle, &a.boot, booted, a.max_size)
                    .with_context(|| format!("upgrade from {} refused", a.bundle.display()))?;
                println!(
                    "installed feedwall {} build {} into slot {} (entry {}, generation {}); it starts at the next boot",
                    i.version,
                    i.build,
                    i.slot,
                    i.entry.display(),
                    i.generation
                );
                if a.reboot {
                    super::request_reboot().context("cannot reboot")?;
                }
                Ok(())
            }
            ApplianceCmd::Clock(a) => {
                let st = clock::run(&clock::ClockOptions {
                    settings: a.settings,
                    run: a.run,
                    set: a.set,
                    once: a.once,
                })?;
                println!("{}", st.line());
                if let Some(o) = st.offset_secs {
                    println!(
                        "offset {o:+.6} s, round trip {:.6} s",
                        st.delay_secs.unwrap_or(0.0)
                    );
                }
                if !st.synchronized && st.source != Some(clock::Source::Off) {
                    anyhow::bail!("no time server answered");
                }
                Ok(())
            }
            ApplianceCmd::Network(a) => {
                if a.step == "begin" {
                    if let Some(said) = network::begin(&a.settings)? {
                        println!("{said}");
                    }
                    return Ok(());
                }
                let watched = network::watch(&a.settings)?;
                if let Some(w) = &watched {
                    let reboot = a.reboot && matches!(w, network::Watched::RolledBack(_));
                    println!("{}{}", w.message(), if reboot { ", rebooting" } else { "" });
                    if reboot {
                        super::request_reboot().context("cannot reboot")?;
                    }
                }
                Ok(())
            }
            ApplianceCmd::Grow(a) => {
                let g = grow::grow(&a.partition, &a.data).with_context(|| {
                    format!("the data partition {} was not grown", a.partition.display())
                })?;
                let mib = |b: u64| b / (1 << 20);
                if g.partition.0 != g.partition.1 {
                    println!(
                        "data partition grown from {} MiB to {} MiB",
                        mib(g.partition.0),
                        mib(g.partition.1)
                    );
                }
                if g.filesystem.0 != g.filesystem.1 {
                    println!(
                        "data file system grown from {} MiB to {} MiB",
                        mib(g.filesystem.0),
                        mib(g.filesystem.1)
                    );
                }
                Ok(())
            }
        }
    }
}
