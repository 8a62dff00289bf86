//! The admin database (`admin.sqlite` in the data directory): accounts,
//! sessions, API tokens, devices, allow/deny entries and custom lookups.
//!
//! Every read and write of subscriber data takes the acting account's id
//! and puts it in the `WHERE` clause, so an id guessed from another account
//! finds nothing (the routes answer 404). Secrets (session tokens, API
//! tokens, check-in tokens) are stored as SHA-256 hashes only.
//!
//! Every change that the published snapshot depends on bumps `revision`
//! and wakes the sidecar ([`Store::changed`]), which rebuilds within a
//! second or so.

use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use ipnet::IpNet;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

/// Current schema version (`PRAGMA user_version`).
pub const SCHEMA_VERSION: i64 = 2;

/// Version 2: log intake. A device's time zone (for logs that print times
/// without one) and its log token (HTTP API and mail address); an
/// account's DShield user id.
const MIGRATE_V2: &str = r#"
ALTER TABLE devices ADD COLUMN tz TEXT NOT NULL DEFAULT 'UTC';
ALTER TABLE devices ADD COLUMN log_hash BLOB;
CREATE UNIQUE INDEX IF NOT EXISTS devices_log_hash ON devices(log_hash);
ALTER TABLE accounts ADD COLUMN dshield_userid INTEGER;
"#;

/// Runs the steps after `SCHEMA` (which creates version-1 tables).
fn migrate(conn: &Connection, from: i64) -> rusqlite::Result<()> {
    let has_tz: bool = conn
        .prepare("SELECT 1 FROM pragma_table_info('devices') WHERE name='tz'")?
        .exists([])?;
    if from < 2 && !has_tz {
        conn.execute_batch(MIGRATE_V2)?;
    }
    Ok(())
}

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS accounts(
    id INTEGER PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK(role IN ('operator','subscriber')),
    tier TEXT NOT NULL CHECK(tier IN ('basic','advanced')),
    label TEXT NOT NULL UNIQUE,
    must_change_password INTEGER NOT NULL DEFAULT 0,
    created INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions(
    token_hash BLOB PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    csrf TEXT NOT NULL,
    created INTEGER NOT NULL,
    expires INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS api_tokens(
    id INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    token_hash BLOB NOT NULL UNIQUE,
    created INTEGER NOT NULL,
    last_used INTEGER
);
CREATE TABLE IF NOT EXISTS devices(
    id INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    prefix TEXT NOT NULL UNIQUE,
    grp TEXT NOT NULL DEFAULT '',
    checkin_hash BLOB UNIQUE,
    created INTEGER NOT NULL,
    updated INTEGER NOT NULL,
    UNIQUE(account_id, name)
);
CREATE TABLE IF NOT EXISTS list_entries(
    id INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK(kind IN ('allow','deny')),
    net TEXT NOT NULL,
    comment TEXT NOT NULL DEFAULT '',
    created INTEGER NOT NULL,
    UNIQUE(account_id, kind, net)
);
CREATE TABLE IF NOT EXISTS lookups(
    id INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    label TEXT NOT NULL,
    feeds TEXT NOT NULL,
    created INTEGER NOT NULL,
    UNIQUE(account_id, label)
);
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
"#;

/// Errors of the store. `Invalid` carries a message for the user, naming
/// the field when there is one.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("not found")]
    NotFound,
    #[error("database: {0}")]
    Db(#[from] rusqlite::Error),
}

impl StoreError {
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        StoreError::Invalid {
            field,
            message: message.into(),
        }
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Operator,
    Subscriber,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    /// The basic lookups only, a device limit.
    Basic,
    /// Chosen feeds, own allow and deny lists, custom lookups, device groups.
    Advanced,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Role::Operator => "operator",
            Role::Subscriber => "subscriber",
        }
    }
}

impl Tier {
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Basic => "basic",
            Tier::Advanced => "advanced",
        }
    }
    pub fn parse(s: &str) -> Option<Tier> {
        match s {
            "basic" => Some(Tier::Basic),
            "advanced" => Some(Tier::Advanced),
            _ => None,
        }
    }
}

/// Allow or deny list.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum ListKind {
    Allow,
    Deny,
}

impl ListKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ListKind::Allow => "allow",
            ListKind::Deny => "deny",
        }
    }
    pub fn parse(s: &str) -> Option<ListKind> {
        match s {
            "allow" => Some(ListKind::Allow),
            "deny" => Some(ListKind::Deny),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Account {
    pub id: i64,
    pub email: String,
    pub role: Role,
    pub tier: Tier,
    /// DNS label of the account's own names (random; reveals nothing).
    pub label: String,
    pub must_change_password: bool,
    pub created: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Device {
    pub id: i64,
    #[serde(skip)]
    pub account_id: i64,
    pub name: String,
    /// Firewall / resolver type (see the setup instructions).
    pub kind: String,
    /// Source address or prefix it queries from.
    #[schema(value_type = String)]
    pub prefix: IpNet,
    pub group: String,
    /// A check-in URL exists (dynamic address).
    pub dynamic: bool,
    pub created: i64,
    pub updated: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ListEntry {
    pub id: i64,
    pub kind: ListKind,
    #[schema(value_type = String)]
    pub net: IpNet,
    pub comment: String,
    pub created: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Lookup {
    pub id: i64,
    #[serde(skip)]
    pub account_id: i64,
    pub name: String,
    /// DNS label of the lookup below the account's label.
    pub label: String,
    pub feeds: Vec<String>,
    pub created: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ApiToken {
    pub id: i64,
    pub name: String,
    pub created: i64,
    pub last_used: Option<i64>,
}

/// A live session.
#[derive(Debug, Clone)]
pub struct Session {
    pub account: Account,
    pub csrf: String,
    pub expires: i64,
}

/// Fields of a new or changed device.
#[derive(Debug, Clone)]
pub struct DeviceInput {
    pub name: String,
    pub kind: String,
    pub prefix: IpNet,
    pub group: String,
}

/// An operator's view of an account.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AccountSummary {
    #[serde(flatten)]
    pub account: Account,
    pub devices: i64,
    pub allow_entries: i64,
    pub deny_entries: i64,
    pub lookups: i64,
}

/// What the snapshot needs from the admin database.
#[derive(Debug, Clone, Default, Hash)]
pub struct PublishInputs {
    /// (id, label, tier is advanced)
    pub accounts: Vec<(i64, String, bool)>,
    /// (device id, account id, name, prefix)
    pub devices: Vec<(i64, i64, String, IpNet)>,
    /// (account id, kind, net)
    pub entries: Vec<(i64, ListKind, IpNet)>,
    /// (account id, lookup label, feeds)
    pub lookups: Vec<(i64, String, Vec<String>)>,
}

/// The admin database handle (cheap to clone).
#[derive(Clone)]
pub struct Store {
    conn: Arc<Mutex<Connection>>,
    changed: Arc<tokio::sync::Notify>,
}

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// SHA-256 of a secret token.
pub fn token_hash(token: &str) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, token.as_bytes())
        .as_ref()
        .to_vec()
}

/// A random token: 32 bytes, URL-safe base64 without padding.
pub fn random_token() -> String {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).expect("system random source");
    b64url(&b)
}

/// A random log token: 26 characters of [a-z2-7] (130 bits), lower case so
/// it survives mail relays that fold the case of addresses.
pub fn random_log_token() -> String {
    const ALPHA: &[u8] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut b = [0u8; 26];
    getrandom::fill(&mut b).expect("system random source");
    b.iter().map(|x| ALPHA[(x & 31) as usize] as char).collect()
}

/// A random DNS label: 10 characters of [a-z2-7] (50 bits).
pub fn random_label() -> String {
    const ALPHA: &[u8] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut b = [0u8; 10];
    getrandom::fill(&mut b).expect("system random source");
    // First character a letter, so the label never looks like a chunk number.
    b.iter()
        .enumerate()
        .map(|(i, x)| {
            let n = if i == 0 { 26 } else { 32 };
            ALPHA[(*x as usize) % n] as char
        })
        .collect()
}

fn b64url(bytes: &[u8]) -> String {
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len() * 4 / 3 + 2);
    for c in bytes.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        let chars = c.len() + 1;
        for i in 0..chars {
            out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

fn account_row(r: &rusqlite::Row) -> rusqlite::Result<Account> {
    Ok(Account {
        id: r.get(0)?,
        email: r.get(1)?,
        role: if r.get::<_, String>(2)? == "operator" {
            Role::Operator
        } else {
            Role::Subscriber
        },
        tier: Tier::parse(&r.get::<_, String>(3)?).unwrap_or(Tier::Basic),
        label: r.get(4)?,
        must_change_password: r.get(5)?,
        created: r.get(6)?,
    })
}

const ACCOUNT_COLS: &str = "id, email, role, tier, label, must_change_password, created";
const DEVICE_COLS: &str =
    "id, account_id, name, kind, prefix, grp, checkin_hash IS NOT NULL, created, updated";

fn device_row(r: &rusqlite::Row) -> rusqlite::Result<Device> {
    let prefix: String = r.get(4)?;
    Ok(Device {
        id: r.get(0)?,
        account_id: r.get(1)?,
        name: r.get(2)?,
        kind: r.get(3)?,
        prefix: prefix
            .parse()
            .unwrap_or_else(|_| "0.0.0.0/32".parse().expect("valid")),
        group: r.get(5)?,
        dynamic: r.get(6)?,
        created: r.get(7)?,
        updated: r.get(8)?,
    })
}

fn lookup_row(r: &rusqlite::Row) -> rusqlite::Result<Lookup> {
    let feeds: String = r.get(4)?;
    Ok(Lookup {
        id: r.get(0)?,
        account_id: r.get(1)?,
        name: r.get(2)?,
        label: r.get(3)?,
        feeds: serde_json::from_str(&feeds).unwrap_or_default(),
        created: r.get(5)?,
    })
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation)
}

/// Whether the operator account (the one with `email`, else the first
/// operator) still has to change its password, read without opening the
/// database for writing (the appliance console polls it beside the running
/// admin server). `None`: no database or no operator yet.
pub fn operator_password_pending(path: &Path, email: &str) -> Result<Option<bool>> {
    if !path.is_file() {
        return Ok(None);
    }
    let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    conn.busy_timeout(std::time::Duration::from_secs(2))?;
    Ok(conn
        .query_row(
            "SELECT must_change_password FROM accounts WHERE role='operator' ORDER BY email=? DESC, id LIMIT 1",
            [email.trim().to_ascii_lowercase()],
            |r| r.get(0),
        )
        .optional()?)
}

impl Store {
    /// Opens (creating when absent) the database at `path`.
    pub fn open(path: &Path) -> Result<Store> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::invalid(
                "database",
                format!(
                    "{} has schema version {version}, newer than this build ({SCHEMA_VERSION})",
                    path.display()
                ),
            ));
        }
        conn.execute_batch(&format!("BEGIN IMMEDIATE; {SCHEMA}"))?;
        if let Err(e) = migrate(&conn, version) {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(e.into());
        }
        conn.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        conn.execute_batch("COMMIT")?;
        Ok(Store {
            conn: Arc::new(Mutex::new(conn)),
            changed: Arc::new(tokio::sync::Notify::new()),
        })
    }

    /// An in-memory store (unit tests).
    pub fn open_in_memory() -> Result<Store> {
        let conn = Connection::open_in_memory()?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.execute_batch(SCHEMA)?;
        migrate(&conn, 0)?;
        Ok(Store {
            conn: Arc::new(Mutex::new(conn)),
            changed: Arc::new(tokio::sync::Notify::new()),
        })
    }

    fn db(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Woken after every change the snapshot depends on.
    pub fn changed(&self) -> Arc<tokio::sync::Notify> {
        self.changed.clone()
    }

    /// Wakes the sidecar without a database change (operator decisions
    /// on held-back feed versions).
    pub fn poke(&self) {
        self.touch();
    }

    fn touch(&self) {
        self.changed.notify_one();
    }

    // ---- accounts ----

    /// Creates an account. `password_hash` is an argon2id PHC string.
    pub fn create_account(
        &self,
        email: &str,
        password_hash: &str,
        role: Role,
        tier: Tier,
        must_change_password: bool,
    ) -> Result<Account> {
        let email = email.trim().to_ascii_lowercase();
        let db = self.db();
        let r = db.execute(
            "INSERT INTO accounts(email, password_hash, role, tier, label, must_change_password, created) VALUES(?,?,?,?,?,?,?)",
            params![email, password_hash, role.as_str(), tier.as_str(), random_label(), must_change_password, now()],
        );
        match r {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => {
                return Err(StoreError::invalid(
                    "email",
                    "an account with this e-mail already exists",
                ))
            }
            Err(e) => return Err(e.into()),
        }
        let id = db.last_insert_rowid();
        drop(db);
        self.touch();
        self.account(id)
    }

    pub fn account(&self, id: i64) -> Result<Account> {
        self.db()
            .query_row(
                &format!("SELECT {ACCOUNT_COLS} FROM accounts WHERE id=?"),
                [id],
                account_row,
            )
            .optional()?
            .ok_or(StoreError::NotFound)
    }

    /// Account and password hash by e-mail (login).
    pub fn account_by_email(&self, email: &str) -> Result<Option<(Account, String)>> {
        Ok(self
            .db()
            .query_row(
                &format!("SELECT {ACCOUNT_COLS}, password_hash FROM accounts WHERE email=?"),
                [email.trim().to_ascii_lowercase()],
                |r| Ok((account_row(r)?, r.get::<_, String>(7)?)),
            )
            .optional()?)
    }

    pub fn password_hash(&self, account: i64) -> Result<String> {
        self.db()
            .query_row(
                "SELECT password_hash FROM accounts WHERE id=?",
                [account],
                |r| r.get(0),
            )
            .optional()?
            .ok_or(StoreError::NotFound)
    }

    /// Replaces the password and ends every other session of the account.
    pub fn set_password(&self, account: i64, hash: &str, keep_session: Option<&str>) -> Result<()> {
        let db = self.db();
        db.execute(
            "UPDATE accounts SET password_hash=?, must_change_password=0 WHERE id=?",
            params![hash, account],
        )?;
        let keep = keep_session.map(token_hash).unwrap_or_default();
        db.execute(
            "DELETE FROM sessions WHERE account_id=? AND token_hash<>?",
            params![account, keep],
        )?;
        Ok(())
    }

    /// Gives an account a new one-time password: the hash replaces the old
    /// one, the password must be changed at the next login, and every
    /// session ends (the appliance's first-boot password, issued again
    /// after a reboot before the first login).
    pub fn set_one_time_password(&self, account: i64, hash: &str) -> Result<()> {
        let db = self.db();
        let n = db.execute(
            "UPDATE accounts SET password_hash=?, must_change_password=1 WHERE id=?",
            params![hash, account],
        )?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        db.execute("DELETE FROM sessions WHERE account_id=?", [account])?;
        Ok(())
    }

    /// The operator account: the one with `email`, else the first operator.
    pub fn operator_account(&self, email: &str) -> Result<Option<Account>> {
        Ok(self
            .db()
            .query_row(
                &format!(
                    "SELECT {ACCOUNT_COLS} FROM accounts WHERE role='operator' ORDER BY email=? DESC, id LIMIT 1"
                ),
                [email.trim().to_ascii_lowercase()],
                account_row,
            )
            .optional()?)
    }

    pub fn has_operator(&self) -> Result<bool> {
        Ok(self.db().query_row(
            "SELECT EXISTS(SELECT 1 FROM accounts WHERE role='operator')",
            [],
            |r| r.get(0),
        )?)
    }

    pub fn set_tier(&self, account: i64, tier: Tier) -> Result<()> {
        let n = self.db().execute(
            "UPDATE accounts SET tier=? WHERE id=? AND role='subscriber'",
            params![tier.as_str(), account],
        )?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        self.touch();
        Ok(())
    }

    pub fn delete_account(&self, account: i64) -> Result<()> {
        let n = self.db().execute(
            "DELETE FROM accounts WHERE id=? AND role='subscriber'",
            [account],
        )?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        self.touch();
        Ok(())
    }

    /// Every account with its counts (operator pages).
    pub fn account_summaries(&self) -> Result<Vec<AccountSummary>> {
        let db = self.db();
        let mut st = db.prepare(&format!(
            "SELECT {ACCOUNT_COLS},
                (SELECT COUNT(*) FROM devices d WHERE d.account_id=a.id),
                (SELECT COUNT(*) FROM list_entries e WHERE e.account_id=a.id AND e.kind='allow'),
                (SELECT COUNT(*) FROM list_entries e WHERE e.account_id=a.id AND e.kind='deny'),
                (SELECT COUNT(*) FROM lookups l WHERE l.account_id=a.id)
             FROM accounts a ORDER BY a.id"
        ))?;
        let rows = st
            .query_map([], |r| {
                Ok(AccountSummary {
                    account: account_row(r)?,
                    devices: r.get(7)?,
                    allow_entries: r.get(8)?,
                    deny_entries: r.get(9)?,
                    lookups: r.get(10)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    // ---- sessions and tokens ----

    /// Starts a session; returns (token, csrf).
    pub fn create_session(&self, account: i64, ttl_secs: i64) -> Result<(String, String)> {
        let token = random_token();
        let csrf = random_token();
        let t = now();
        let db = self.db();
        db.execute("DELETE FROM sessions WHERE expires < ?", [t])?;
        db.execute(
            "INSERT INTO sessions(token_hash, account_id, csrf, created, expires) VALUES(?,?,?,?,?)",
            params![token_hash(&token), account, csrf, t, t + ttl_secs],
        )?;
        Ok((token, csrf))
    }

    pub fn session(&self, token: &str) -> Result<Option<Session>> {
        let db = self.db();
        Ok(db
            .query_row(
                &format!(
                    "SELECT {}, s.csrf, s.expires FROM sessions s JOIN accounts a ON a.id=s.account_id
                     WHERE s.token_hash=? AND s.expires>=?",
                    ACCOUNT_COLS.split(", ").map(|c| format!("a.{c}")).collect::<Vec<_>>().join(", ")
                ),
                params![token_hash(token), now()],
                |r| {
                    Ok(Session {
                        account: account_row(r)?,
                        csrf: r.get(7)?,
                        expires: r.get(8)?,
                    })
                },
            )
            .optional()?)
    }

    pub fn end_session(&self, token: &str) -> Result<()> {
        self.db().execute(
            "DELETE FROM sessions WHERE token_hash=?",
            [token_hash(token)],
        )?;
        Ok(())
    }

    /// Creates an API token; the secret is shown once.
    pub fn create_token(&self, account: i64, name: &str) -> Result<(ApiToken, String)> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
            return Err(StoreError::invalid(
                "name",
                "a name of 1 to 64 printable characters",
            ));
        }
        let secret = format!("fw_{}", random_token());
        let t = now();
        let db = self.db();
        db.execute(
            "INSERT INTO api_tokens(account_id, name, token_hash, created) VALUES(?,?,?,?)",
            params![account, name, token_hash(&secret), t],
        )?;
        Ok((
            ApiToken {
                id: db.last_insert_rowid(),
                name: name.to_string(),
                created: t,
                last_used: None,
            },
            secret,
        ))
    }

    pub fn tokens(&self, account: i64) -> Result<Vec<ApiToken>> {
        let db = self.db();
        let mut st = db.prepare(
            "SELECT id, name, created, last_used FROM api_tokens WHERE account_id=? ORDER BY id",
        )?;
        let v = st
            .query_map([account], |r| {
                Ok(ApiToken {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    created: r.get(2)?,
                    last_used: r.get(3)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(v)
    }

    pub fn delete_token(&self, account: i64, id: i64) -> Result<()> {
        let n = self.db().execute(
            "DELETE FROM api_tokens WHERE id=? AND account_id=?",
            params![id, account],
        )?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// The account of an API token (and marks it used).
    pub fn token_account(&self, secret: &str) -> Result<Option<Account>> {
        let db = self.db();
        let h = token_hash(secret);
        let id: Option<i64> = db
            .query_row(
                "SELECT account_id FROM api_tokens WHERE token_hash=?",
                [&h],
                |r| r.get(0),
            )
            .optional()?;
        let Some(id) = id else { return Ok(None) };
        db.execute(
            "UPDATE api_tokens SET last_used=? WHERE token_hash=?",
            params![now(), h],
        )?;
        drop(db);
        Ok(Some(self.account(id)?))
    }

    // ---- devices ----

    pub fn devices(&self, account: i64) -> Result<Vec<Device>> {
        let db = self.db();
        let mut st = db.prepare(&format!(
            "SELECT {DEVICE_COLS} FROM devices WHERE account_id=? ORDER BY grp, name"
        ))?;
        let v = st
            .query_map([account], device_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(v)
    }

    pub fn all_devices(&self) -> Result<Vec<Device>> {
        let db = self.db();
        let mut st = db.prepare(&format!("SELECT {DEVICE_COLS} FROM devices ORDER BY id"))?;
        let v = st
            .query_map([], device_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(v)
    }

    pub fn device(&self, account: i64, id: i64) -> Result<Device> {
        self.db()
            .query_row(
                &format!("SELECT {DEVICE_COLS} FROM devices WHERE id=? AND account_id=?"),
                params![id, account],
                device_row,
            )
            .optional()?
            .ok_or(StoreError::NotFound)
    }

    /// Checks a device prefix against every other device: equal prefixes
    /// cannot share the ACL, and a prefix may not overlap another
    /// account's (it would take over that account's firewall).
    fn check_prefix(
        db: &Connection,
        account: i64,
        prefix: IpNet,
        except: Option<i64>,
        reserved: &[IpNet],
    ) -> Result<()> {
        if reserved
            .iter()
            .any(|r| r.contains(&prefix) || prefix.contains(r))
        {
            return Err(StoreError::invalid(
                "prefix",
                "this address is reserved by the appliance's configuration",
            ));
        }
        let mut st = db.prepare("SELECT id, account_id, prefix FROM devices")?;
        let rows = st.query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        for row in rows {
            let (id, acct, p) = row?;
            if Some(id) == except {
                continue;
            }
            let Ok(p) = p.parse::<IpNet>() else { continue };
            if p == prefix {
                return Err(StoreError::invalid(
                    "prefix",
                    "another device already queries from this address",
                ));
            }
            if acct != account && (p.contains(&prefix) || prefix.contains(&p)) {
                return Err(StoreError::invalid(
                    "prefix",
                    "this address overlaps a device of another account",
                ));
            }
        }
        Ok(())
    }

    /// Adds a device; `limit` is the tier's device limit, `reserved` the
    /// configuration file's device prefixes.
    pub fn add_device(
        &self,
        account: i64,
        d: &DeviceInput,
        limit: Option<u32>,
        reserved: &[IpNet],
    ) -> Result<Device> {
        let mut db = self.db();
        let tx = db.transaction()?;
        if let Some(limit) = limit {
            let n: i64 = tx.query_row(
                "SELECT COUNT(*) FROM devices WHERE account_id=?",
                [account],
                |r| r.get(0),
            )?;
            if n >= limit as i64 {
                return Err(StoreError::invalid("name", format!("your tier allows {limit} devices; remove one or ask the operator for the advanced tier")));
            }
        }
        Self::check_prefix(&tx, account, d.prefix, None, reserved)?;
        let t = now();
        let r = tx.execute(
            "INSERT INTO devices(account_id, name, kind, prefix, grp, created, updated) VALUES(?,?,?,?,?,?,?)",
            params![account, d.name, d.kind, d.prefix.to_string(), d.group, t, t],
        );
        match r {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => {
                return Err(StoreError::invalid(
                    "name",
                    "you already have a device with this name",
                ))
            }
            Err(e) => return Err(e.into()),
        }
        let id = tx.last_insert_rowid();
        tx.commit()?;
        drop(db);
        self.touch();
        self.device(account, id)
    }

    pub fn update_device(
        &self,
        account: i64,
        id: i64,
        d: &DeviceInput,
        reserved: &[IpNet],
    ) -> Result<Device> {
        let mut db = self.db();
        let tx = db.transaction()?;
        let exists: bool = tx.query_row(
            "SELECT EXISTS(SELECT 1 FROM devices WHERE id=? AND account_id=?)",
            params![id, account],
            |r| r.get(0),
        )?;
        if !exists {
            return Err(StoreError::NotFound);
        }
        Self::check_prefix(&tx, account, d.prefix, Some(id), reserved)?;
        let r = tx.execute(
            "UPDATE devices SET name=?, kind=?, prefix=?, grp=?, updated=? WHERE id=? AND account_id=?",
            params![d.name, d.kind, d.prefix.to_string(), d.group, now(), id, account],
        );
        match r {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => {
                return Err(StoreError::invalid(
                    "name",
                    "you already have a device with this name",
                ))
            }
            Err(e) => return Err(e.into()),
        }
        tx.commit()?;
        drop(db);
        self.touch();
        self.device(account, id)
    }

    pub fn delete_device(&self, account: i64, id: i64) -> Result<()> {
        let n = self.db().execute(
            "DELETE FROM devices WHERE id=? AND account_id=?",
            params![id, account],
        )?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        self.touch();
        Ok(())
    }

    /// Creates (or replaces) a device's check-in secret; returns it once.
    pub fn new_checkin_token(&self, account: i64, id: i64) -> Result<String> {
        let token = random_token();
        let n = self.db().execute(
            "UPDATE devices SET checkin_hash=? WHERE id=? AND account_id=?",
            params![token_hash(&token), id, account],
        )?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(token)
    }

    /// Moves the device of a check-in token to `addr` (a host prefix).
    /// Returns the device, and whether its address changed.
    pub fn check_in(
        &self,
        token: &str,
        addr: IpAddr,
        reserved: &[IpNet],
    ) -> Result<(Device, bool)> {
        let prefix = IpNet::from(addr);
        let mut db = self.db();
        let tx = db.transaction()?;
        let dev = tx
            .query_row(
                &format!("SELECT {DEVICE_COLS} FROM devices WHERE checkin_hash=?"),
                [token_hash(token)],
                device_row,
            )
            .optional()?
            .ok_or(StoreError::NotFound)?;
        if dev.prefix == prefix {
            return Ok((dev, false));
        }
        Self::check_prefix(&tx, dev.account_id, prefix, Some(dev.id), reserved)?;
        tx.execute(
            "UPDATE devices SET prefix=?, updated=? WHERE id=?",
            params![prefix.to_string(), now(), dev.id],
        )?;
        tx.commit()?;
        drop(db);
        self.touch();
        Ok((self.device(dev.account_id, dev.id)?, true))
    }

    // ---- allow / deny lists ----

    pub fn entries(&self, account: i64, kind: ListKind) -> Result<Vec<ListEntry>> {
        let db = self.db();
        let mut st = db.prepare(
            "SELECT id, net, comment, created FROM list_entries WHERE account_id=? AND kind=? ORDER BY id",
        )?;
        let v = st
            .query_map(params![account, kind.as_str()], |r| {
                let net: String = r.get(1)?;
                Ok(ListEntry {
                    id: r.get(0)?,
                    kind,
                    net: net
                        .parse()
                        .unwrap_or_else(|_| "0.0.0.0/32".parse().expect("valid")),
                    comment: r.get(2)?,
                    created: r.get(3)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(v)
    }

    /// Adds entries in one transaction; entries already present keep their
    /// comment. Returns how many were new.
    pub fn add_entries(
        &self,
        account: i64,
        kind: ListKind,
        entries: &[(IpNet, String)],
        max_entries: usize,
    ) -> Result<usize> {
        let mut db = self.db();
        let tx = db.transaction()?;
        let have: i64 = tx.query_row(
            "SELECT COUNT(*) FROM list_entries WHERE account_id=? AND kind=?",
            params![account, kind.as_str()],
            |r| r.get(0),
        )?;
        let mut added = 0;
        {
            let mut st = tx.prepare(
                "INSERT OR IGNORE INTO list_entries(account_id, kind, net, comment, created) VALUES(?,?,?,?,?)",
            )?;
            let t = now();
            for (net, comment) in entries {
                added += st.execute(params![
                    account,
                    kind.as_str(),
                    net.trunc().to_string(),
                    comment,
                    t
                ])?;
            }
        }
        if have as usize + added > max_entries {
            return Err(StoreError::invalid(
                "entries",
                format!("a list holds at most {max_entries} entries; nothing was added"),
            ));
        }
        tx.commit()?;
        drop(db);
        if added > 0 {
            self.touch();
        }
        Ok(added)
    }

    pub fn delete_entry(&self, account: i64, kind: ListKind, id: i64) -> Result<()> {
        let n = self.db().execute(
            "DELETE FROM list_entries WHERE id=? AND account_id=? AND kind=?",
            params![id, account, kind.as_str()],
        )?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        self.touch();
        Ok(())
    }

    // ---- custom lookups ----

    pub fn lookups(&self, account: i64) -> Result<Vec<Lookup>> {
        let db = self.db();
        let mut st = db.prepare(
            "SELECT id, account_id, name, label, feeds, created FROM lookups WHERE account_id=? ORDER BY id",
        )?;
        let v = st
            .query_map([account], lookup_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(v)
    }

    pub fn lookup(&self, account: i64, id: i64) -> Result<Lookup> {
        self.db()
            .query_row(
                "SELECT id, account_id, name, label, feeds, created FROM lookups WHERE id=? AND account_id=?",
                params![id, account],
                lookup_row,
            )
            .optional()?
            .ok_or(StoreError::NotFound)
    }

    /// Creates a lookup; `label` has been validated by the caller.
    pub fn add_lookup(
        &self,
        account: i64,
        name: &str,
        label: &str,
        feeds: &[String],
    ) -> Result<Lookup> {
        let db = self.db();
        let r = db.execute(
            "INSERT INTO lookups(account_id, name, label, feeds, created) VALUES(?,?,?,?,?)",
            params![
                account,
                name,
                label,
                serde_json::to_string(feeds).expect("strings"),
                now()
            ],
        );
        match r {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => {
                return Err(StoreError::invalid(
                    "label",
                    "you already have a lookup with this DNS label",
                ))
            }
            Err(e) => return Err(e.into()),
        }
        let id = db.last_insert_rowid();
        drop(db);
        self.touch();
        self.lookup(account, id)
    }

    pub fn update_lookup(
        &self,
        account: i64,
        id: i64,
        name: &str,
        feeds: &[String],
    ) -> Result<Lookup> {
        let n = self.db().execute(
            "UPDATE lookups SET name=?, feeds=? WHERE id=? AND account_id=?",
            params![
                name,
                serde_json::to_string(feeds).expect("strings"),
                id,
                account
            ],
        )?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        self.touch();
        self.lookup(account, id)
    }

    pub fn delete_lookup(&self, account: i64, id: i64) -> Result<()> {
        let n = self.db().execute(
            "DELETE FROM lookups WHERE id=? AND account_id=?",
            params![id, account],
        )?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        self.touch();
        Ok(())
    }

    // ---- publishing ----

    /// Everything the snapshot is built from, in a stable order.
    pub fn publish_inputs(&self) -> Result<PublishInputs> {
        let db = self.db();
        let mut out = PublishInputs::default();
        let mut st =
            db.prepare("SELECT id, label, tier FROM accounts WHERE role='subscriber' ORDER BY id")?;
        out.accounts = st
            .query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get::<_, String>(2)? == "advanced"))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let mut st = db.prepare("SELECT id, account_id, name, prefix FROM devices ORDER BY id")?;
        out.devices = st
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                ))
            })?
            .filter_map(|r| match r {
                Ok((id, a, n, p)) => p.parse().ok().map(|p| Ok((id, a, n, p))),
                Err(e) => Some(Err(e)),
            })
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let mut st = db.prepare(
            "SELECT account_id, kind, net FROM list_entries ORDER BY account_id, kind, id",
        )?;
        out.entries = st
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })?
            .filter_map(|r| match r {
                Ok((a, k, n)) => Some(Ok((a, ListKind::parse(&k)?, n.parse().ok()?))),
                Err(e) => Some(Err(e)),
            })
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let mut st =
            db.prepare("SELECT account_id, label, feeds FROM lookups ORDER BY account_id, id")?;
        out.lookups = st
            .query_map([], |r| {
                let feeds: String = r.get(2)?;
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    serde_json::from_str(&feeds).unwrap_or_default(),
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev(name: &str, prefix: &str) -> DeviceInput {
        DeviceInput {
            name: name.into(),
            kind: "unbound".into(),
            prefix: prefix.parse().unwrap(),
            group: String::new(),
        }
    }

    #[test]
    fn accounts_see_only_their_own_rows() {
        let s = Store::open_in_memory().unwrap();
        let a = s
            .create_account(
                "a@example.com",
                "h",
                Role::Subscriber,
                Tier::Advanced,
                false,
            )
            .unwrap();
        let b = s
            .create_account(
                "B@example.com",
                "h",
                Role::Subscriber,
                Tier::Advanced,
                false,
            )
            .unwrap();
        assert_eq!(b.email, "b@example.com");
        assert_ne!(a.label, b.label);
        let d = s
            .add_device(a.id, &dev("fw", "192.0.2.1/32"), None, &[])
            .unwrap();
        assert!(matches!(s.device(b.id, d.id), Err(StoreError::NotFound)));
        assert!(matches!(
            s.delete_device(b.id, d.id),
            Err(StoreError::NotFound)
        ));
        assert!(matches!(
            s.update_device(b.id, d.id, &dev("x", "192.0.2.9/32"), &[]),
            Err(StoreError::NotFound)
        ));
        assert_eq!(s.devices(b.id).unwrap().len(), 0);
        s.add_entries(
            a.id,
            ListKind::Deny,
            &[("198.51.100.0/24".parse().unwrap(), "c".into())],
            10,
        )
        .unwrap();
        let e = s.entries(a.id, ListKind::Deny).unwrap();
        assert!(matches!(
            s.delete_entry(b.id, ListKind::Deny, e[0].id),
            Err(StoreError::NotFound)
        ));
        assert_eq!(s.entries(b.id, ListKind::Deny).unwrap().len(), 0);
    }

    #[test]
    fn prefixes_cannot_collide_or_overlap_other_accounts() {
        let s = Store::open_in_memory().unwrap();
        let a = s
            .create_account(
                "a@example.com",
                "h",
                Role::Subscriber,
                Tier::Advanced,
                false,
            )
            .unwrap();
        let b = s
            .create_account(
                "b@example.com",
                "h",
                Role::Subscriber,
                Tier::Advanced,
                false,
            )
            .unwrap();
        s.add_device(a.id, &dev("fw", "10.1.0.0/16"), None, &[])
            .unwrap();
        let e = s
            .add_device(b.id, &dev("fw", "10.1.2.3/32"), None, &[])
            .unwrap_err();
        assert!(e.to_string().contains("another account"), "{e}");
        let e = s
            .add_device(a.id, &dev("fw2", "10.1.0.0/16"), None, &[])
            .unwrap_err();
        assert!(e.to_string().contains("already queries"), "{e}");
        // Nested inside its own account is fine (most specific wins).
        s.add_device(a.id, &dev("fw2", "10.1.2.3/32"), None, &[])
            .unwrap();
        let e = s
            .add_device(
                b.id,
                &dev("r", "127.0.0.1/32"),
                None,
                &["127.0.0.1/32".parse().unwrap()],
            )
            .unwrap_err();
        assert!(e.to_string().contains("reserved"), "{e}");
        let e = s
            .add_device(a.id, &dev("fw", "10.9.0.1/32"), None, &[])
            .unwrap_err();
        assert!(
            e.to_string().contains("same name") || e.to_string().contains("this name"),
            "{e}"
        );
    }

    #[test]
    fn device_limit_and_check_in() {
        let s = Store::open_in_memory().unwrap();
        let a = s
            .create_account("a@example.com", "h", Role::Subscriber, Tier::Basic, false)
            .unwrap();
        let d = s
            .add_device(a.id, &dev("fw", "192.0.2.1/32"), Some(1), &[])
            .unwrap();
        assert!(s
            .add_device(a.id, &dev("fw2", "192.0.2.2/32"), Some(1), &[])
            .is_err());
        let token = s.new_checkin_token(a.id, d.id).unwrap();
        assert!(s
            .check_in("wrong", "192.0.2.7".parse().unwrap(), &[])
            .is_err());
        let (moved, changed) = s
            .check_in(&token, "192.0.2.7".parse().unwrap(), &[])
            .unwrap();
        assert!(changed);
        assert_eq!(moved.prefix.to_string(), "192.0.2.7/32");
        let (_, changed) = s
            .check_in(&token, "192.0.2.7".parse().unwrap(), &[])
            .unwrap();
        assert!(!changed);
    }

    #[test]
    fn sessions_tokens_and_entry_limits() {
        let s = Store::open_in_memory().unwrap();
        let a = s
            .create_account(
                "a@example.com",
                "h",
                Role::Subscriber,
                Tier::Advanced,
                false,
            )
            .unwrap();
        let (tok, csrf) = s.create_session(a.id, 60).unwrap();
        let sess = s.session(&tok).unwrap().unwrap();
        assert_eq!(sess.account.id, a.id);
        assert_eq!(sess.csrf, csrf);
        assert!(s.session("nope").unwrap().is_none());
        s.end_session(&tok).unwrap();
        assert!(s.session(&tok).unwrap().is_none());
        let (_, secret) = s.create_token(a.id, "cron").unwrap();
        assert_eq!(s.token_account(&secret).unwrap().unwrap().id, a.id);
        assert!(s.token_account("fw_nope").unwrap().is_none());
        let nets: Vec<(IpNet, String)> = (0..5)
            .map(|i| (format!("192.0.2.{i}/32").parse().unwrap(), String::new()))
            .collect();
        assert!(s.add_entries(a.id, ListKind::Allow, &nets, 4).is_err());
        assert_eq!(
            s.entries(a.id, ListKind::Allow).unwrap().len(),
            0,
            "nothing half-added"
        );
        assert_eq!(s.add_entries(a.id, ListKind::Allow, &nets, 5).unwrap(), 5);
        assert_eq!(s.add_entries(a.id, ListKind::Allow, &nets, 5).unwrap(), 0);
    }

    #[test]
    fn log_devices_by_address_token_and_zone() {
        let s = Store::open_in_memory().unwrap();
        let a = s
            .create_account(
                "a@example.com",
                "h",
                Role::Subscriber,
                Tier::Advanced,
                false,
            )
            .unwrap();
        let wide = s
            .add_device(a.id, &dev("wide", "198.51.100.0/24"), None, &[])
            .unwrap();
        let host = s
            .add_device(a.id, &dev("host", "198.51.100.7/32"), None, &[])
            .unwrap();
        let by = |ip: &str| {
            s.log_device_by_addr(ip.parse().unwrap())
                .unwrap()
                .map(|d| d.device)
        };
        assert_eq!(by("198.51.100.7"), Some(host.id));
        assert_eq!(by("::ffff:198.51.100.8"), Some(wide.id));
        assert_eq!(by("192.0.2.1"), None);
        let t = s.new_log_token(a.id, host.id).unwrap();
        assert_eq!(
            s.log_device_by_token(&t.to_ascii_uppercase())
                .unwrap()
                .unwrap()
                .device,
            host.id
        );
        assert!(s.log_device_by_token("nope").unwrap().is_none());
        // Another account cannot mint a token for this device.
        let b = s
            .create_account(
                "b@example.com",
                "h",
                Role::Subscriber,
                Tier::Advanced,
                false,
            )
            .unwrap();
        assert!(matches!(
            s.new_log_token(b.id, host.id),
            Err(StoreError::NotFound)
        ));
        assert!(s.set_device_tz(a.id, host.id, "Mars/Base").is_err());
        s.set_device_tz(a.id, host.id, "Europe/Berlin").unwrap();
        assert_eq!(s.device_tz(a.id, host.id).unwrap(), "Europe/Berlin");
        assert_eq!(
            s.log_device_by_token(&t).unwrap().unwrap().tz,
            "Europe/Berlin"
        );
        s.set_dshield_userid(a.id, Some(12345)).unwrap();
        assert_eq!(s.dshield_userid(a.id).unwrap(), Some(12345));
    }
}

/// A device as log intake needs it: whose it is and how to read its times.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct LogDevice {
    pub account: i64,
    pub device: i64,
    pub name: String,
    /// Zone of times its logs print without one (`UTC`, `+01:00`,
    /// `Europe/Berlin`).
    pub tz: String,
}

fn log_device_row(r: &rusqlite::Row) -> rusqlite::Result<LogDevice> {
    Ok(LogDevice {
        account: r.get(0)?,
        device: r.get(1)?,
        name: r.get(2)?,
        tz: r.get(3)?,
    })
}

impl Store {
    // ---- log intake ----

    /// The device whose prefix contains `addr` (the narrowest one), for
    /// syslog, where the sending address names the device.
    pub fn log_device_by_addr(&self, addr: IpAddr) -> Result<Option<LogDevice>> {
        let addr = crate::logs::record::canonical(addr);
        let db = self.db();
        let mut st = db.prepare_cached("SELECT account_id, id, name, tz, prefix FROM devices")?;
        let mut best: Option<(u8, LogDevice)> = None;
        let mut rows = st.query([])?;
        while let Some(r) = rows.next()? {
            let Ok(p) = r.get::<_, String>(4)?.parse::<IpNet>() else {
                continue;
            };
            if p.contains(&addr) && best.as_ref().is_none_or(|(l, _)| p.prefix_len() > *l) {
                best = Some((p.prefix_len(), log_device_row(r)?));
            }
        }
        Ok(best.map(|(_, d)| d))
    }

    /// The device of a log token (HTTP API, mail recipient).
    pub fn log_device_by_token(&self, token: &str) -> Result<Option<LogDevice>> {
        Ok(self
            .db()
            .query_row(
                "SELECT account_id, id, name, tz FROM devices WHERE log_hash=?",
                [token_hash(&token.to_ascii_lowercase())],
                log_device_row,
            )
            .optional()?)
    }

    /// Creates (or replaces) a device's log token; returns it once.
    pub fn new_log_token(&self, account: i64, device: i64) -> Result<String> {
        let token = random_log_token();
        let n = self.db().execute(
            "UPDATE devices SET log_hash=? WHERE id=? AND account_id=?",
            params![token_hash(&token), device, account],
        )?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(token)
    }

    /// Whether a device has a log token.
    pub fn has_log_token(&self, account: i64, device: i64) -> Result<bool> {
        self.db()
            .query_row(
                "SELECT log_hash IS NOT NULL FROM devices WHERE id=? AND account_id=?",
                params![device, account],
                |r| r.get(0),
            )
            .optional()?
            .ok_or(StoreError::NotFound)
    }

    /// A device's log zone.
    pub fn device_tz(&self, account: i64, device: i64) -> Result<String> {
        self.db()
            .query_row(
                "SELECT tz FROM devices WHERE id=? AND account_id=?",
                params![device, account],
                |r| r.get(0),
            )
            .optional()?
            .ok_or(StoreError::NotFound)
    }

    /// Sets a device's log zone (validated here).
    pub fn set_device_tz(&self, account: i64, device: i64, tz: &str) -> Result<()> {
        let zone: crate::logs::Zone = tz
            .parse()
            .map_err(|e: crate::logs::time::ZoneError| StoreError::invalid("tz", e.to_string()))?;
        let n = self.db().execute(
            "UPDATE devices SET tz=?, updated=? WHERE id=? AND account_id=?",
            params![zone.to_string(), now(), device, account],
        )?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// An account's DShield user id (None: submit anonymously).
    pub fn dshield_userid(&self, account: i64) -> Result<Option<u64>> {
        Ok(self
            .db()
            .query_row(
                "SELECT dshield_userid FROM accounts WHERE id=?",
                [account],
                |r| r.get::<_, Option<i64>>(0),
            )
            .optional()?
            .ok_or(StoreError::NotFound)?
            .map(|v| v as u64))
    }

    pub fn set_dshield_userid(&self, account: i64, id: Option<u64>) -> Result<()> {
        let n = self.db().execute(
            "UPDATE accounts SET dshield_userid=? WHERE id=?",
            params![id.map(|v| v as i64), account],
        )?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}
