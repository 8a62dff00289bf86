//! SMTP log intake (RFC 5321): firewalls and report scripts mail their logs
//! to `<log token>@<smtp_domain>`, one address per device.
//!
//! A small ESMTP server: EHLO/HELO, MAIL FROM (with `SIZE`, RFC 1870),
//! RCPT TO, DATA (dot-unstuffed), RSET, NOOP, VRFY, HELP, QUIT; no relaying,
//! no AUTH, no STARTTLS. An unknown recipient is refused at RCPT TO (550),
//! so nothing is accepted that no device owns. One device per mail: a
//! second device's address gets 452 (the sender delivers it in a separate
//! transaction, RFC 5321 §4.5.3.1.10), so each mail is one all-or-nothing
//! upload.
//!
//! After the final dot the message is parsed (MIME, via `mail-parser`): the
//! text parts (not HTML) and the attachments that are text or gzip, in
//! message order, become one log stream — each part a gzip member, so the
//! [`LogService::ingest`] limits are those of an upload (the compressed
//! size, and [`MAX_EXPANSION`] times that decompressed). 250 is answered
//! only once the lines are durable; a message that cannot be read gets 554
//! or 552, a store failure 451, and in every refusal nothing is stored.
//!
//! Bounds: connections ([`MAX_CONNECTIONS`]), messages buffered at once
//! ([`MAX_MAILS_IN_FLIGHT`]), command and data line lengths, message size
//! (`[logs] max_upload`, advertised as SIZE), recipients, errors per
//! session, and every wait ([`COMMAND_TIMEOUT`], [`DATA_TIMEOUT`]).

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use flate2::write::GzEncoder;
use mail_parser::{Message, MessageParser, MimeHeaders, PartType};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::{target, Event, Shared};
use crate::admin::store::LogDevice;
use crate::logs::ingest::{IngestError, Receipt, MAX_EXPANSION};
use crate::logs::reader::MAX_LINE;
use crate::logs::service::LogService;
use crate::logs::store::{LogStoreError, Source};

/// Open SMTP connections, at most; more get 421 and are closed.
pub const MAX_CONNECTIONS: usize = 32;
/// Messages being received or stored at once (each is held in memory, up
/// to `max_upload`); a DATA command waits [`MAIL_SLOT_WAIT`] for a slot.
pub const MAX_MAILS_IN_FLIGHT: usize = 4;
/// Longest wait for a message slot before answering 451 (try later).
pub const MAIL_SLOT_WAIT: Duration = Duration::from_secs(60);
/// Longest command line kept (RFC 5321 §4.5.3.1.4 says 512 octets; ESMTP
/// parameters may make it longer).
pub const COMMAND_LINE_MAX: usize = 2048;
/// Longest message line (RFC 5321 §4.5.3.1.6 says 1000 octets; firewall log
/// lines in a plain body are often longer). A longer line refuses the mail.
pub const DATA_LINE_MAX: usize = MAX_LINE;
/// Wait for the next command (RFC 5321 §4.5.3.2.7: at least 5 minutes).
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(300);
/// Wait for each line of a message (RFC 5321 §4.5.3.2.6, DATA block: 3
/// minutes); also the longest wait for a reply to be taken.
pub const DATA_TIMEOUT: Duration = Duration::from_secs(180);
/// RCPT commands per transaction (RFC 5321 §4.5.3.1.8: 100).
pub const MAX_RCPT_COMMANDS: usize = 100;
/// Refused commands per session before it is closed (421).
pub const MAX_ERRORS: usize = 10;
/// Nesting of attached messages (message/rfc822) read for logs.
pub const MAX_DEPTH: usize = 4;
/// Bytes of an attachment looked at to tell text from binary.
const SNIFF: usize = 8192;

/// What the SMTP listener needs from the config.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The mail domain of per-device addresses (lowercase).
    pub domain: String,
    /// Largest message accepted (SIZE).
    pub max_size: u64,
}

struct Server {
    shared: Arc<Shared>,
    settings: Settings,
    mail_slots: Arc<Semaphore>,
}

/// Binds every address and starts serving; returns the bound addresses.
pub(crate) async fn start(
    shared: Arc<Shared>,
    settings: Settings,
    listen: &[SocketAddr],
) -> anyhow::Result<Vec<SocketAddr>> {
    let server = Arc::new(Server {
        shared,
        settings,
        mail_slots: Arc::new(Semaphore::new(MAX_MAILS_IN_FLIGHT)),
    });
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut listeners = Vec::with_capacity(listen.len());
    for addr in listen {
        let l = TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen for SMTP on {addr}"))?;
        listeners.push(l);
    }
    let mut bound = Vec::with_capacity(listeners.len());
    for l in listeners {
        bound.push(l.local_addr()?);
        tokio::spawn(accept_loop(server.clone(), l, permits.clone()));
    }
    Ok(bound)
}

async fn accept_loop(server: Arc<Server>, listener: TcpListener, permits: Arc<Semaphore>) {
    loop {
        let (mut stream, from) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "SMTP accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            Event::SmtpBusy { from }.emit();
            tokio::spawn(async move {
                let _ = tokio::time::timeout(
                    Duration::from_secs(5),
                    stream.write_all(b"421 4.3.2 Too many connections, try again later\r\n"),
                )
                .await;
            });
            continue;
        };
        Event::SmtpConnection.emit();
        let server = server.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let (rd, wr) = stream.into_split();
            let mut s = Session {
                server: &server,
                from,
                rd: BufReader::with_capacity(16 * 1024, rd),
                wr,
                helo: false,
                mail: false,
                rcpt: None,
                rcpt_commands: 0,
                errors: 0,
            };
            if let Err(e) = s.run().await {
                tracing::debug!(%from, error = %e, "SMTP session ended");
            }
        });
    }
}

/// One SMTP session and its current transaction.
struct Session<'a, R, W> {
    server: &'a Server,
    from: SocketAddr,
    rd: R,
    wr: W,
    helo: bool,
    /// MAIL FROM accepted.
    mail: bool,
    /// The recipient device.
    rcpt: Option<Arc<LogDevice>>,
    rcpt_commands: usize,
    errors: usize,
}

/// How a session goes on after a command.
enum Next {
    Continue,
    Close,
}

impl<R: AsyncBufRead + Unpin, W: AsyncWrite + Unpin> Session<'_, R, W> {
    async fn run(&mut self) -> io::Result<()> {
        let greeting = format!(
            "220 {} feedwall log intake ESMTP\r\n",
            self.server.settings.domain
        );
        self.send(&greeting).await?;
        let mut line = Vec::with_capacity(256);
        loop {
            let read = tokio::time::timeout(
                COMMAND_TIMEOUT,
                read_line(&mut self.rd, &mut line, COMMAND_LINE_MAX),
            )
            .await;
            let cut = match read {
                Err(_) => {
                    let _ = self.send("421 4.4.2 Idle too long, closing\r\n").await;
                    return Ok(());
                }
                Ok(r) => match r? {
                    None => return Ok(()),
                    Some((_, cut)) => cut,
                },
            };
            let next = if cut {
                self.refuse("500 5.5.2 Line too long\r\n").await?
            } else {
                let text = String::from_utf8_lossy(&line).into_owned();
                self.command(&text).await?
            };
            if let Next::Close = next {
                return Ok(());
            }
        }
    }

    async fn send(&mut self, reply: &str) -> io::Result<()> {
        tokio::time::timeout(DATA_TIMEOUT, self.wr.write_all(reply.as_bytes()))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "reply not taken"))?
    }

    /// A refused command: counted; too many close the session.
    async fn refuse(&mut self, reply: &str) -> io::Result<Next> {
        self.errors += 1;
        if self.errors > MAX_ERRORS {
            self.send("421 4.7.0 Too many errors, closing\r\n").await?;
            return Ok(Next::Close);
        }
        self.send(reply).await?;
        Ok(Next::Continue)
    }

    fn reset(&mut self) {
        self.mail = false;
        self.rcpt = None;
        self.rcpt_commands = 0;
    }

    async fn command(&mut self, line: &str) -> io::Result<Next> {
        let (verb, arg) = match line.find(' ') {
            Some(i) => (&line[..i], line[i + 1..].trim()),
            None => (line.trim(), ""),
        };
        match verb.to_ascii_uppercase().as_str() {
            "EHLO" | "HELO" if arg.is_empty() => {
                self.refuse("501 5.5.4 A domain or address is required\r\n")
                    .await
            }
            "EHLO" => {
                self.reset();
                self.helo = true;
                let d = &self.server.settings.domain;
                let reply = format!(
                    "250-{d} greets {arg}\r\n250-SIZE {}\r\n250-8BITMIME\r\n250 ENHANCEDSTATUSCODES\r\n",
                    self.server.settings.max_size
                );
                self.send(&reply).await?;
                Ok(Next::Continue)
            }
            "HELO" => {
                self.reset();
                self.helo = true;
                let reply = format!("250 {}\r\n", self.server.settings.domain);
                self.send(&reply).await?;
                Ok(Next::Continue)
            }
            "MAIL" => self.mail_from(arg).await,
            "RCPT" => self.rcpt_to(arg).await,
            "DATA" => self.data(arg).await,
            "RSET" => {
                self.reset();
                self.send("250 2.0.0 OK\r\n").await?;
                Ok(Next::Continue)
            }
            "NOOP" => {
                self.send("250 2.0.0 OK\r\n").await?;
                Ok(Next::Continue)
            }
            "VRFY" => {
                self.send("252 2.5.0 Cannot verify; send the mail\r\n")
                    .await?;
                Ok(Next::Continue)
            }
            "HELP" => {
                let reply = format!(
                    "214 2.0.0 Mail logs to <device log token>@{}\r\n",
                    self.server.settings.domain
                );
                self.send(&reply).await?;
                Ok(Next::Continue)
            }
            "QUIT" => {
                self.send("221 2.0.0 Bye\r\n").await?;
                Ok(Next::Close)
            }
            "STARTTLS" | "AUTH" | "EXPN" | "TURN" | "ETRN" | "BDAT" => {
                self.refuse("502 5.5.1 Command not implemented\r\n").await
            }
            _ => self.refuse("500 5.5.2 Command not recognized\r\n").await,
        }
    }

    async fn mail_from(&mut self, arg: &str) -> io::Result<Next> {
        if !self.helo {
            return self.refuse("503 5.5.1 Send EHLO or HELO first\r\n").await;
        }
        if self.mail {
            return self.refuse("503 5.5.1 Nested MAIL command\r\n").await;
        }
        let Some((_, params)) = strip_keyword(arg, "FROM:").and_then(path) else {
            return self
                .refuse("501 5.5.4 Syntax: MAIL FROM:<address>\r\n")
                .await;
        };
        for p in params.split_ascii_whitespace() {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            if k.eq_ignore_ascii_case("SIZE") {
                match v.parse::<u64>() {
                    Ok(n) if n > self.server.settings.max_size => {
                        let reply = format!(
                            "552 5.3.4 Message size exceeds the fixed maximum of {} bytes\r\n",
                            self.server.settings.max_size
                        );
                        return self.refuse(&reply).await;
                    }
                    Ok(_) => {}
                    Err(_) => return self.refuse("501 5.5.4 Bad SIZE value\r\n").await,
                }
            } else if k.eq_ignore_ascii_case("BODY") {
                if !(v.eq_ignore_ascii_case("7BIT") || v.eq_ignore_ascii_case("8BITMIME")) {
                    return self.refuse("501 5.5.4 Bad BODY value\r\n").await;
                }
            } else {
                return self
                    .refuse("555 5.5.4 MAIL parameter not supported\r\n")
                    .await;
            }
        }
        self.mail = true;
        self.send("250 2.1.0 OK\r\n").await?;
        Ok(Next::Continue)
    }

    async fn rcpt_to(&mut self, arg: &str) -> io::Result<Next> {
        if !self.mail {
            return self.refuse("503 5.5.1 Send MAIL first\r\n").await;
        }
        self.rcpt_commands += 1;
        if self.rcpt_commands > MAX_RCPT_COMMANDS {
            self.send("452 4.5.3 Too many recipients\r\n").await?;
            return Ok(Next::Continue);
        }
        let Some((addr, params)) = strip_keyword(arg, "TO:").and_then(path) else {
            return self.refuse("501 5.5.4 Syntax: RCPT TO:<address>\r\n").await;
        };
        if !params.is_empty() {
            return self
                .refuse("555 5.5.4 RCPT parameters not supported\r\n")
                .await;
        }
        let Some((local, domain)) = addr.rsplit_once('@') else {
            return self.refuse("550 5.1.1 No such log address\r\n").await;
        };
        let domain = domain.trim_end_matches('.');
        if !domain.eq_ignore_ascii_case(&self.server.settings.domain) {
            let reply = format!(
                "550 5.7.1 Relaying denied: only @{} addresses are taken\r\n",
                self.server.settings.domain
            );
            return self.refuse(&reply).await;
        }
        let device = if valid_token(local) {
            let admin = self.server.shared.admin.clone();
            let token = local.to_string();
            match tokio::task::spawn_blocking(move || admin.log_device_by_token(&token)).await {
                Ok(Ok(d)) => d,
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "SMTP log intake: recipient lookup failed");
                    self.send("451 4.3.0 Cannot look the address up now, try again later\r\n")
                        .await?;
                    return Ok(Next::Continue);
                }
                Err(_) => {
                    self.send("451 4.3.0 Cannot look the address up now, try again later\r\n")
                        .await?;
                    return Ok(Next::Continue);
                }
            }
        } else {
            None
        };
        let Some(device) = device else {
            Event::SmtpUnknownRecipient { from: self.from }.emit();
            return self.refuse("550 5.1.1 No such log address\r\n").await;
        };
        match &self.rcpt {
            Some(d) if d.device != device.device => {
                self.send("452 4.5.3 One log address per message; send the others separately\r\n")
                    .await?;
            }
            _ => {
                self.rcpt = Some(Arc::new(device));
                self.send("250 2.1.5 OK\r\n").await?;
            }
        }
        Ok(Next::Continue)
    }

    async fn data(&mut self, arg: &str) -> io::Result<Next> {
        if !arg.is_empty() {
            return self.refuse("501 5.5.4 Syntax: DATA\r\n").await;
        }
        if !self.mail {
            return self.refuse("503 5.5.1 Send MAIL first\r\n").await;
        }
        let Some(device) = self.rcpt.clone() else {
            return self.refuse("554 5.5.1 No valid recipients\r\n").await;
        };
        let slot = match tokio::time::timeout(
            MAIL_SLOT_WAIT,
            self.server.mail_slots.clone().acquire_owned(),
        )
        .await
        {
            Ok(Ok(p)) => p,
            _ => {
                self.reset();
                self.send("451 4.3.2 Busy, try again later\r\n").await?;
                return Ok(Next::Continue);
            }
        };
        self.send("354 End data with <CR><LF>.<CR><LF>\r\n").await?;
        let max = self.server.settings.max_size;
        let data = read_data(&mut self.rd, max).await?;
        self.reset();
        let from = self.from;
        let refused = |why: &str| {
            Event::SmtpRefused {
                from,
                device: device.device,
                why,
            }
            .emit()
        };
        let raw = match data {
            Data::Mail(raw) => raw,
            Data::TooLarge { closing } => {
                refused("too large");
                let reply = format!(
                    "552 5.3.4 Message exceeds the {max}-byte limit; nothing was stored\r\n"
                );
                self.send(&reply).await?;
                return Ok(if closing { Next::Close } else { Next::Continue });
            }
            Data::LineTooLong => {
                refused("line too long");
                let reply = format!(
                    "554 5.6.0 A line is longer than {DATA_LINE_MAX} bytes; nothing was stored\r\n"
                );
                self.send(&reply).await?;
                return Ok(Next::Continue);
            }
        };
        let logs = self.server.shared.logs.clone();
        let d = device.clone();
        let stored = tokio::task::spawn_blocking(move || {
            let _slot = slot;
            store_mail(&logs, &d, &raw)
        })
        .await
        .unwrap_or_else(|e| Err(MailError::Store(e.to_string())));
        let reply = match stored {
            Ok(r) => {
                Event::SmtpAccepted {
                    from,
                    device: device.device,
                    lines: r.lines,
                    entries: r.accepted,
                }
                .emit();
                format!(
                    "250 2.0.0 Stored {} lines: {} entries, {} rejected, {} not firewall records\r\n",
                    r.lines,
                    r.accepted,
                    r.rejected,
                    r.ignored + r.skipped
                )
            }
            Err(e) => {
                let why = e.to_string();
                refused(&why);
                match e {
                    MailError::Store(_) => format!("451 4.3.0 {why}; try again later\r\n"),
                    MailError::TooLarge { .. } => format!("552 5.3.4 {why}\r\n"),
                    MailError::Unreadable(_) => format!("554 5.6.0 {why}\r\n"),
                }
            }
        };
        self.send(&reply).await?;
        Ok(Next::Continue)
    }
}

/// `arg` without a leading keyword such as `FROM:` (any case, spaces
/// allowed after the colon).
fn strip_keyword<'a>(arg: &'a str, kw: &str) -> Option<&'a str> {
    let head = arg.get(..kw.len())?;
    head.eq_ignore_ascii_case(kw)
        .then(|| arg[kw.len()..].trim_start())
}

/// A path (`<addr>`, `<>`, or a bare address) and the parameters after it.
fn path(s: &str) -> Option<(&str, &str)> {
    if let Some(rest) = s.strip_prefix('<') {
        let end = rest.find('>')?;
        let addr = &rest[..end];
        // Source routes (`<@a,@b:user@c>`, RFC 5321 §4.1.2) are ignored.
        let addr = addr.rsplit_once(':').map_or(addr, |(_, a)| a);
        Some((addr, rest[end + 1..].trim()))
    } else {
        let (addr, params) = s.split_once(' ').unwrap_or((s, ""));
        (!addr.is_empty()).then(|| (addr, params.trim()))
    }
}

/// Whether `s` can be a log token (checked before any lookup).
fn valid_token(s: &str) -> bool {
    (1..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Reads one line into `buf` (without its CRLF or LF), keeping at most
/// `max` bytes; the rest of a longer line is read and dropped. Returns the
/// bytes consumed and whether the line was cut, or None at the end of the
/// stream (a last line without LF is returned first).
async fn read_line<R: AsyncBufRead + Unpin>(
    r: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> io::Result<Option<(usize, bool)>> {
    buf.clear();
    let mut consumed = 0;
    let mut cut = false;
    loop {
        let chunk = r.fill_buf().await?;
        if chunk.is_empty() {
            return Ok((consumed > 0).then_some((consumed, cut)));
        }
        let (take, done) = match chunk.iter().position(|&c| c == b'\n') {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        let room = (max + 2).saturating_sub(buf.len());
        if take > room {
            cut = true;
        }
        buf.extend_from_slice(&chunk[..take.min(room)]);
        r.consume(take);
        consumed += take;
        if done {
            break;
        }
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
    }
    if buf.len() > max {
        buf.truncate(max);
        cut = true;
    }
    Ok(Some((consumed, cut)))
}

/// A message as received after DATA.
#[derive(Debug)]
enum Data {
    /// The message, dot-unstuffed, lines ending in CRLF.
    Mail(Vec<u8>),
    /// Over the size limit; `closing`: so far over that the rest was not
    /// read (the session must end).
    TooLarge {
        closing: bool,
    },
    LineTooLong,
}

/// Reads a message up to the line holding only `.` (RFC 5321 §4.1.1.4),
/// removing the leading dot of dot-stuffed lines (§4.5.2). A message over
/// `max` bytes is read on and dropped, up to `max` more bytes.
async fn read_data<R: AsyncBufRead + Unpin>(r: &mut R, max: u64) -> io::Result<Data> {
    let mut mail = Vec::new();
    let mut line = Vec::with_capacity(1024);
    let mut total: u64 = 0;
    let mut too_large = false;
    let mut too_long = false;
    loop {
        let read = tokio::time::timeout(DATA_TIMEOUT, read_line(r, &mut line, DATA_LINE_MAX))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "message not finished"))??;
        let Some((consumed, cut)) = read else {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed inside a message",
            ));
        };
        if !cut && line == b"." {
            break;
        }
        let body = line.strip_prefix(b".").unwrap_or(&line[..]);
        total += consumed as u64 - (line.len() - body.len()) as u64;
        too_long |= cut;
        if total > max && !too_large {
            too_large = true;
            mail = Vec::new();
        }
        if total > max.saturating_mul(2) {
            return Ok(Data::TooLarge { closing: true });
        }
        if !too_large && !too_long {
            mail.extend_from_slice(body);
            mail.extend_from_slice(b"\r\n");
        }
    }
    Ok(if too_large {
        Data::TooLarge { closing: false }
    } else if too_long {
        Data::LineTooLong
    } else {
        Data::Mail(mail)
    })
}

/// Why a mail stored nothing.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("the log archive could not store the message ({0}); nothing was stored")]
    Store(String),
    #[error(
        "the logs are larger than the limit when decompressed ({limit} bytes); nothing was stored"
    )]
    TooLarge { limit: u64 },
    #[error("{0}; nothing was stored")]
    Unreadable(String),
}

impl From<LogStoreError> for MailError {
    fn from(e: LogStoreError) -> MailError {
        MailError::Store(e.to_string())
    }
}

/// Parses a received message and stores its logs for `device`, all or
/// nothing; durable on return. Blocking.
pub fn store_mail(logs: &LogService, device: &LogDevice, raw: &[u8]) -> Result<Receipt, MailError> {
    let limit = logs.config().max_upload;
    let stream = log_stream(raw, limit.saturating_mul(MAX_EXPANSION))?;
    logs.ingest(target(device), Source::Smtp, &stream[..])
        .map_err(|e| match e {
            IngestError::TooLarge { limit } => MailError::TooLarge {
                limit: limit.saturating_mul(MAX_EXPANSION),
            },
            IngestError::Read(e) => {
                MailError::Unreadable(format!("the logs could not be read ({e})"))
            }
            IngestError::Store(e) => e.into(),
        })
}

/// The logs of a message as one stream of gzip members: each text part
/// (and text attachment) compressed, each gzip attachment as it is; every
/// part ends in a line end. `budget` caps the decompressed size of the
/// gzip attachments.
pub fn log_stream(raw: &[u8], budget: u64) -> Result<Vec<u8>, MailError> {
    let message = MessageParser::default()
        .parse(raw)
        .ok_or_else(|| MailError::Unreadable("the message is empty".into()))?;
    let mut out = Vec::new();
    let mut left = budget;
    collect(&message, 0, &mut out, &mut left, budget)?;
    Ok(out)
}

fn collect(
    message: &Message<'_>,
    depth: usize,
    out: &mut Vec<u8>,
    left: &mut u64,
    budget: u64,
) -> Result<(), MailError> {
    for (i, part) in message.parts.iter().enumerate() {
        let name = || {
            part.attachment_name()
                .map(|n| format!("attachment {n:?}"))
                .unwrap_or_else(|| format!("part {}", i + 1))
        };
        let bytes: &[u8] = match &part.body {
            PartType::Text(t) => t.as_bytes(),
            PartType::Binary(b) | PartType::InlineBinary(b) => &b[..],
            PartType::Message(m) => {
                if depth < MAX_DEPTH {
                    collect(m, depth + 1, out, left, budget)?;
                }
                continue;
            }
            PartType::Html(_) | PartType::Multipart(_) => continue,
        };
        if bytes.is_empty() {
            continue;
        }
        if part.is_encoding_problem {
            return Err(MailError::Unreadable(format!(
                "the {} could not be decoded",
                name()
            )));
        }
        if bytes.starts_with(&[0x1f, 0x8b]) {
            let ends_in_newline = check_gzip(bytes, left).map_err(|e| match e {
                GzipProblem::TooLarge => MailError::TooLarge { limit: budget },
                GzipProblem::Broken(e) => {
                    MailError::Unreadable(format!("the {} is not valid gzip ({e})", name()))
                }
            })?;
            out.extend_from_slice(bytes);
            if !ends_in_newline {
                push_member(out, b"");
            }
        } else if matches!(part.body, PartType::Text(_)) || looks_textual(part, bytes) {
            push_member(out, bytes);
        }
    }
    Ok(())
}

/// A binary attachment read as a log: an `application/*` (or untyped) part
/// with no NUL byte in its first [`SNIFF`] bytes.
fn looks_textual(part: &mail_parser::MessagePart<'_>, bytes: &[u8]) -> bool {
    let typed_ok = part
        .content_type()
        .is_none_or(|ct| ct.ctype().eq_ignore_ascii_case("application"));
    typed_ok && !bytes[..bytes.len().min(SNIFF)].contains(&0)
}

/// Appends `text` (and a line end if it lacks one) as one gzip member.
fn push_member(out: &mut Vec<u8>, text: &[u8]) {
    let mut gz = GzEncoder::new(std::mem::take(out), flate2::Compression::fast());
    // Writing to a Vec cannot fail.
    let _ = gz.write_all(text);
    if text.last() != Some(&b'\n') {
        let _ = gz.write_all(b"\n");
    }
    *out = gz.finish().unwrap_or_default();
}

enum GzipProblem {
    TooLarge,
    Broken(io::Error),
}

/// Decompresses a gzip attachment once to check it (and its size, against
/// what is `left` of the budget); returns whether it ends in a line end.
fn check_gzip(bytes: &[u8], left: &mut u64) -> Result<bool, GzipProblem> {
    let mut d = flate2::read::MultiGzDecoder::new(bytes);
    let mut buf = vec![0u8; 64 * 1024];
    let mut last = b'\n';
    loop {
        let n = match d.read(&mut buf) {
            Ok(0) => return Ok(last == b'\n'),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(GzipProblem::Broken(e)),
        };
        if n as u64 > *left {
            return Err(GzipProblem::TooLarge);
        }
        *left -= n as u64;
        last = buf[n - 1];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gz(text: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(text).unwrap();
        e.finish().unwrap()
    }

    fn gunzip(b: &[u8]) -> String {
        let mut s = String::new();
        flate2::read::MultiGzDecoder::new(b)
            .read_to_string(&mut s)
            .unwrap();
        s.replace("\r\n", "\n")
    }

    fn base64_engine(b: &[u8]) -> String {
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for c in b.chunks(3) {
            let n = c
                .iter()
                .enumerate()
                .fold(0u32, |n, (i, &x)| n | u32::from(x) << (16 - 8 * i));
            for i in 0..4 {
                if i <= c.len() {
                    out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    #[tokio::test]
    async fn data_is_dot_unstuffed_and_bounded() {
        let mut r = BufReader::new(&b"a\r\n..b\r\n.\r\nNEXT\r\n"[..]);
        match read_data(&mut r, 100).await.unwrap() {
            Data::Mail(m) => assert_eq!(m, b"a\r\n.b\r\n"),
            other => panic!("{other:?}"),
        }
        let mut rest = String::new();
        tokio::io::AsyncReadExt::read_to_string(&mut r, &mut rest)
            .await
            .unwrap();
        assert_eq!(rest, "NEXT\r\n");
        let big = format!("{}\r\n.\r\n", "x".repeat(150));
        let mut r = BufReader::new(big.as_bytes());
        assert!(matches!(
            read_data(&mut r, 100).await.unwrap(),
            Data::TooLarge { closing: false }
        ));
        let huge = format!("{}\r\n.\r\n", "x\r\n".repeat(150));
        let mut r = BufReader::new(huge.as_bytes());
        assert!(matches!(
            read_data(&mut r, 100).await.unwrap(),
            Data::TooLarge { closing: true }
        ));
        let long = format!("{}\r\nok\r\n.\r\n", "y".repeat(DATA_LINE_MAX + 1));
        let mut r = BufReader::new(long.as_bytes());
        assert!(matches!(
            read_data(&mut r, 1 << 20).await.unwrap(),
            Data::LineTooLong
        ));
        let mut r = BufReader::new(&b"cut off\r\n"[..]);
        assert!(read_data(&mut r, 100).await.is_err());
    }

    #[test]
    fn paths_and_tokens() {
        assert_eq!(path("<a@b> SIZE=10"), Some(("a@b", "SIZE=10")));
        assert_eq!(path("<>"), Some(("", "")));
        assert_eq!(path("<@x,@y:u@d>"), Some(("u@d", "")));
        assert_eq!(path("u@d"), Some(("u@d", "")));
        assert_eq!(path("<broken"), None);
        assert_eq!(strip_keyword("from: <a@b>", "FROM:"), Some("<a@b>"));
        assert_eq!(strip_keyword("TO:<a@b>", "FROM:"), None);
        assert!(valid_token("abcdefghijklmnopqrstuvwxyz"));
        assert!(!valid_token("a.b") && !valid_token("") && !valid_token("a\"b"));
    }

    #[test]
    fn body_text_and_gzip_attachments_become_one_stream() {
        let attached = gz(b"second part\nno line end");
        let mail = format!(
            "From: fw@example.com\r\nTo: t@logs.test\r\nSubject: logs\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\n\
Content-Type: multipart/alternative; boundary=\"b2\"\r\n\r\n--b2\r\n\
Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n\
first =\r\nline\r\n--b2\r\nContent-Type: text/html\r\n\r\n<p>html is skipped</p>\r\n--b2--\r\n--b1\r\n\
Content-Type: application/gzip\r\nContent-Disposition: attachment; filename=\"fw.log.gz\"\r\n\
Content-Transfer-Encoding: base64\r\n\r\n{}\r\n--b1\r\n\
Content-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==\r\n--b1--\r\n",
            base64_engine(&attached)
        );
        let s = log_stream(mail.as_bytes(), 1 << 20).unwrap();
        assert_eq!(gunzip(&s), "first line\nsecond part\nno line end\n");
        // A broken gzip attachment refuses the mail; so does one that
        // expands past the budget.
        let mut broken = attached.clone();
        broken.truncate(broken.len() - 6);
        let bad = mail.replace(&base64_engine(&attached), &base64_engine(&broken));
        assert!(matches!(
            log_stream(bad.as_bytes(), 1 << 20),
            Err(MailError::Unreadable(_))
        ));
        assert!(matches!(
            log_stream(mail.as_bytes(), 10),
            Err(MailError::TooLarge { .. })
        ));
        // A plain single-part mail.
        let s = log_stream(b"Subject: x\r\n\r\nline 1\r\nline 2\r\n", 100).unwrap();
        assert_eq!(gunzip(&s), "line 1\nline 2\n");
    }
}
