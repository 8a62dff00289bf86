//! `feedwall up`: the responder and the sidecar as two child processes under
//! one supervisor. A child that dies is restarted (with a growing pause, so
//! a crash loop does not spin); Ctrl-C or SIGTERM stops both cleanly
//! (SIGTERM, then SIGKILL after a grace period).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use tokio::process::{Child, Command};

use super::sidecar::SNAPSHOT_FILE;
use crate::config::Config;

/// Longest wait for the sidecar's first snapshot before giving up.
pub const FIRST_SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(120);
/// First pause before restarting a crashed child; doubles up to the max.
pub const RESTART_PAUSE: Duration = Duration::from_millis(500);
pub const RESTART_PAUSE_MAX: Duration = Duration::from_secs(30);
/// Time children get to exit after SIGTERM.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

/// What `up` runs.
pub struct UpPlan {
    pub config_path: PathBuf,
    pub config: Config,
    pub ready_file: Option<PathBuf>,
}

struct Supervised {
    name: &'static str,
    args: Vec<String>,
    child: Option<Child>,
    pause: Duration,
    restart_at: Option<Instant>,
    restarts: u32,
}

impl Supervised {
    fn spawn(&mut self) -> anyhow::Result<()> {
        let exe = std::env::current_exe().context("cannot find the feedwall executable")?;
        let child = Command::new(exe)
            .args(&self.args)
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start the {}", self.name))?;
        tracing::info!(child = self.name, pid = child.id(), "started");
        self.child = Some(child);
        Ok(())
    }

    /// Restarts the child if it exited; true if it is running.
    fn check(&mut self) -> anyhow::Result<()> {
        if let Some(c) = &mut self.child {
            if let Some(status) = c.try_wait()? {
                self.child = None;
                self.restarts += 1;
                tracing::warn!(child = self.name, %status, pause_ms = self.pause.as_millis() as u64, "child exited; restarting");
                self.restart_at = Some(Instant::now() + self.pause);
                self.pause = (self.pause * 2).min(RESTART_PAUSE_MAX);
            }
        }
        if self.child.is_none() && self.restart_at.is_some_and(|t| Instant::now() >= t) {
            self.restart_at = None;
            self.spawn()?;
        }
        Ok(())
    }

    fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(|c| c.id())
    }
}

/// Runs until SIGINT/SIGTERM.
pub fn run(plan: UpPlan) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(supervise(plan))
}

async fn supervise(plan: UpPlan) -> anyhow::Result<()> {
    let data = plan.config.data_dir.clone();
    let snapshot = data.join(SNAPSHOT_FILE);
    let mut control = Supervised {
        name: "sidecar",
        args: vec![
            "control".into(),
            "--config".into(),
            plan.config_path.display().to_string(),
        ],
        child: None,
        pause: RESTART_PAUSE,
        restart_at: None,
        restarts: 0,
    };
    control.spawn()?;
    // The responder needs a snapshot to start: the sidecar writes one from
    // the archive at once, before its first fetch.
    let deadline = Instant::now() + FIRST_SNAPSHOT_TIMEOUT;
    while !snapshot.exists() {
        if let Some(c) = &mut control.child {
            if let Some(status) = c.try_wait()? {
                bail!("the sidecar exited before writing a snapshot ({status}); see its messages above");
            }
        }
        if Instant::now() > deadline {
            bail!(
                "no snapshot at {} after {:?}",
                snapshot.display(),
                FIRST_SNAPSHOT_TIMEOUT
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut dns_args = vec![
        "dns".to_string(),
        "--snapshot".into(),
        snapshot.display().to_string(),
        "--stats-file".into(),
        data.join("dns-stats.json").display().to_string(),
    ];
    for l in &plan.config.dns.listen {
        dns_args.push("--listen".into());
        dns_args.push(l.to_string());
    }
    if let Some(w) = plan.config.dns.workers {
        dns_args.push("--workers".into());
        dns_args.push(w.to_string());
    }
    dns_args.push("--tcp-idle-timeout".into());
    dns_args.push(
        plan.config
            .dns
            .tcp_idle_timeout
            .as_secs()
            .max(1)
            .to_string(),
    );
    dns_args.push("--tcp-max-connections".into());
    dns_args.push(plan.config.dns.tcp_max_connections.to_string());
    if let Some(r) = &plan.ready_file {
        dns_args.push("--ready-file".into());
        dns_args.push(r.display().to_string());
    }
    let mut dns = Supervised {
        name: "responder",
        args: dns_args,
        child: None,
        pause: RESTART_PAUSE,
        restart_at: None,
        restarts: 0,
    };
    dns.spawn()?;

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(200)) => {
                control.check()?;
                dns.check()?;
            }
            _ = tokio::signal::ctrl_c() => break,
            _ = term.recv() => break,
        }
    }
    tracing::info!("stopping");
    stop(&mut [&mut dns, &mut control]).await;
    Ok(())
}

async fn stop(children: &mut [&mut Supervised]) {
    for c in children.iter() {
        if let Some(pid) = c.pid() {
            // SAFETY: sending a signal to our own child's pid has no memory
            // effects; a stale pid is impossible while we hold the Child.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
        }
    }
    let deadline = Instant::now() + STOP_GRACE;
    for c in children.iter_mut() {
        if let Some(child) = &mut c.child {
            let left = deadline.saturating_duration_since(Instant::now());
            if tokio::time::timeout(left, child.wait()).await.is_err() {
                tracing::warn!(child = c.name, "did not stop in time; killing");
                let _ = child.kill().await;
            }
        }
    }
}

/// Resolves what `feedwall up` runs: a config file, or the embedded demo in
/// the data directory.
pub fn plan(
    config: Option<&Path>,
    data: &Path,
    listen: &[std::net::SocketAddr],
    ready_file: Option<PathBuf>,
) -> anyhow::Result<UpPlan> {
    let config_path = match config {
        Some(p) => p.to_path_buf(),
        None => crate::demo::write_config(data, listen)?,
    };
    let mut config = Config::load(&config_path)?;
    if !listen.is_empty() {
        config.dns.listen = listen.to_vec();
    }
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create {}", config.data_dir.display()))?;
    Ok(UpPlan {
        config_path,
        config,
        ready_file,
    })
}
