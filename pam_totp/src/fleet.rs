//! The fleet store: enrollments on a PostgreSQL server that many hosts
//! share (pam_totp/sql/fleet.sql). The host holds no secret: it asks the
//! database's `pam_totp.verify` whether a code is right, and the database
//! decides, with its clock, under a row lock, recording what the code used
//! up in the same transaction. One connection per login, closed when the
//! login ends; every wait is bounded (libpq's `connect_timeout` per host,
//! then the statement deadline).
//!
//! The connection file (`store_conf=`, default [`DEFAULT_CONF`]):
//!
//! ```text
//! # libpq's connection string or URI, as one line
//! connection = host=db1.example.org,db2.example.org dbname=pam_totp user=host42 sslmode=verify-full sslrootcert=/etc/pam_totp/ca.crt sslcert=/etc/pam_totp/host.crt sslkey=/etc/pam_totp/host.key
//! connect_timeout = 2        # seconds per host (libpq's minimum is 2)
//! statement_timeout = 1000   # milliseconds for the answer
//! ```

use std::cell::RefCell;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use pam_ext::pq;

use crate::config::{self, ConfigError};
use crate::decision::{Accepted, Attempt, Gate, Outcome, Refused};
use crate::enrollment::GraceHost;
use crate::store::{Decided, Store, StoreError, Target};

/// The default connection file.
pub const DEFAULT_CONF: &str = "/etc/pam_totp/postgres.conf";

/// The connection file, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FleetConf {
    pub connection: String,
    /// libpq's `connect_timeout`, seconds per host.
    pub connect_timeout: u32,
    pub statement_timeout: Duration,
    /// `target_session_attrs=primary` given (else read-write is asked for).
    pub primary: bool,
    /// `gssencmode` given (else GSS encryption is not tried, which saves a
    /// round trip per login on a host with Kerberos credentials).
    pub gssencmode: bool,
}

/// Why the connection file cannot be used; the text names file and line.
#[derive(Debug)]
pub enum ConfError {
    File(ConfigError),
    Line(PathBuf, usize, String),
    Missing(PathBuf, &'static str),
    Connection(PathBuf, String),
}

impl fmt::Display for ConfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfError::File(e) => e.fmt(f),
            ConfError::Line(p, n, what) => write!(f, "{} line {n}: {what}", p.display()),
            ConfError::Missing(p, what) => write!(f, "{}: no {what} setting", p.display()),
            ConfError::Connection(p, what) => write!(f, "{}: connection: {what}", p.display()),
        }
    }
}

impl std::error::Error for ConfError {}

impl FleetConf {
    /// Reads the connection file: it must be root's and readable by no one
    /// else (it may hold a password), and its connection string must verify
    /// the server's certificate (`sslmode=verify-full` or `verify-ca`) for
    /// any host that is not a Unix socket.
    pub fn read(path: &Path) -> Result<FleetConf, ConfError> {
        let text = config::read_trusted(path, false, 0o077)
            .map_err(ConfError::File)?
            .unwrap_or_default();
        let conf =
            FleetConf::parse(&text).map_err(|(n, what)| ConfError::Line(path.into(), n, what))?;
        let Some(mut conf) = conf else {
            return Err(ConfError::Missing(path.into(), "connection"));
        };
        let (primary, gssencmode) = conf
            .check_connection()
            .map_err(|what| ConfError::Connection(path.into(), what))?;
        conf.primary = primary;
        conf.gssencmode = gssencmode;
        Ok(conf)
    }

    /// The settings of a connection file; `Ok(None)` without `connection`.
    pub fn parse(text: &str) -> Result<Option<FleetConf>, (usize, String)> {
        let mut connection = None;
        let mut connect_timeout = 2;
        let mut statement_timeout = Duration::from_millis(1000);
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let n = i + 1;
            let Some((key, value)) = line.split_once('=') else {
                return Err((n, "expected name = value".into()));
            };
            let (key, value) = (key.trim(), value.trim());
            let number = |max: u64| {
                value
                    .parse::<u64>()
                    .ok()
                    .filter(|v| (1..=max).contains(v))
                    .ok_or_else(|| (n, format!("bad value \"{value}\" for {key}")))
            };
            match key {
                "connection" if !value.is_empty() => connection = Some(value.to_owned()),
                "connect_timeout" => connect_timeout = number(60)? as u32,
                "statement_timeout" => statement_timeout = Duration::from_millis(number(60_000)?),
                _ => return Err((n, format!("unknown setting \"{}\"", key.escape_debug()))),
            }
        }
        Ok(connection.map(|connection| FleetConf {
            connection,
            connect_timeout,
            statement_timeout,
            primary: false,
            gssencmode: false,
        }))
    }

    /// Whether the connection string will do; `Ok((asks for
    /// target_session_attrs=primary, sets gssencmode))`.
    fn check_connection(&self) -> Result<(bool, bool), String> {
        let settings = pq::parse_conninfo(&self.connection).map_err(|e| e.to_string())?;
        let get = |k: &str| {
            settings
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.as_str())
        };
        let hosts = get("host").unwrap_or("");
        // Without host or hostaddr libpq uses the local Unix socket.
        let tcp = get("hostaddr").is_some()
            || hosts
                .split(',')
                .any(|h| !h.is_empty() && !h.starts_with('/'));
        if tcp && !matches!(get("sslmode"), Some("verify-full" | "verify-ca")) {
            return Err(
                "sslmode must be verify-full (or verify-ca) so the server's certificate is checked"
                    .into(),
            );
        }
        let gss = get("gssencmode").is_some();
        match get("target_session_attrs") {
            None | Some("read-write") => Ok((false, gss)),
            Some("primary") => Ok((true, gss)),
            Some(other) => Err(format!(
                "target_session_attrs={other}: writes must reach the primary (read-write)"
            )),
        }
    }
}

impl FleetConf {
    /// What a connection takes on top of the connection string: the connect
    /// deadline, writes to the primary, the program's name, no GSS
    /// encryption unless the string asks for it.
    pub fn overrides(&self, program: &'static str) -> Vec<(&'static str, String)> {
        let mut o = vec![
            ("connect_timeout", self.connect_timeout.to_string()),
            (
                "target_session_attrs",
                if self.primary {
                    "primary"
                } else {
                    "read-write"
                }
                .to_owned(),
            ),
            ("application_name", program.to_owned()),
        ];
        if !self.gssencmode {
            o.push(("gssencmode", "disable".to_owned()));
        }
        o
    }
}

/// The fleet store for one login: connects on first use, closes when dropped.
pub struct FleetStore {
    conf: FleetConf,
    conn: RefCell<Option<pq::Connection>>,
}

fn unavailable(e: pq::Error) -> StoreError {
    StoreError::Unavailable(format!("fleet store: {e}"))
}

impl FleetStore {
    pub fn new(conf: FleetConf) -> Self {
        FleetStore {
            conf,
            conn: RefCell::new(None),
        }
    }

    /// Runs one query on the login's connection, opening it first if needed.
    fn query(&self, sql: &str, params: &[Option<&str>]) -> Result<Vec<pq::Row>, StoreError> {
        let mut slot = self.conn.borrow_mut();
        if slot.is_none() {
            let conn =
                pq::Connection::open(&self.conf.connection, &self.conf.overrides("pam_totp"))
                    .map_err(unavailable)?;
            *slot = Some(conn);
        }
        let Some(conn) = slot.as_mut() else {
            return Err(StoreError::Unavailable("fleet store: no connection".into()));
        };
        let deadline = Instant::now() + self.conf.statement_timeout;
        let rows = conn.query(sql, params, deadline);
        if rows.is_err() {
            // A connection that failed or timed out is not used again.
            *slot = None;
        }
        rows.map_err(unavailable)
    }
}

impl Store for FleetStore {
    fn before_prompt(
        &self,
        t: &Target,
        _host: Option<&GraceHost>,
        _grace_period: u64,
        _now: u64,
    ) -> Result<Gate, StoreError> {
        let rows = self.query(
            "SELECT pam_totp.enrolled($1)",
            &[Some(t.user.name.as_str())],
        )?;
        match rows
            .first()
            .and_then(|r| r.first())
            .and_then(|v| v.as_deref())
        {
            Some("t") => Ok(Gate::Ask),
            Some("f") => Err(not_enrolled(t)),
            other => Err(StoreError::Unavailable(format!(
                "fleet store: unexpected answer {other:?}"
            ))),
        }
    }

    fn attempt(&self, t: &Target, a: &Attempt<'_>, _now: u64) -> Result<Decided, StoreError> {
        let six = a.candidates.iter().find(|c| c.digits == 6);
        let eight = a.candidates.iter().find(|c| c.digits == 8);
        let (code6, code8) = (
            six.map(|c| c.code.to_string()),
            eight.map(|c| c.code.to_string()),
        );
        let rows = self.query(
            "SELECT outcome, step, retry_after FROM pam_totp.verify($1, $2, $3)",
            &[
                Some(t.user.name.as_str()),
                code6.as_deref(),
                code8.as_deref(),
            ],
        )?;
        let row = rows.first().cloned().unwrap_or_default();
        let field = |i: usize| row.get(i).cloned().flatten();
        let number = |i: usize| field(i).and_then(|v| v.parse::<u64>().ok());
        let outcome = match field(0).as_deref() {
            Some("accepted") => match six {
                Some(c) => Outcome::Accepted {
                    how: Accepted::Totp {
                        step: number(1).unwrap_or(0),
                    },
                    candidate: *c,
                },
                None => return Err(odd("accepted without a 6-digit code")),
            },
            Some("scratch") => match eight {
                Some(c) => Outcome::Accepted {
                    how: Accepted::Scratch,
                    candidate: *c,
                },
                None => return Err(odd("scratch without an 8-digit code")),
            },
            Some("reused") => Outcome::Refused(Refused::Reused {
                step: number(1).unwrap_or(0),
            }),
            Some("throttled") => Outcome::Throttled {
                retry_after: number(2).unwrap_or(1),
            },
            Some("wrong-code") if a.last => Outcome::WrongCode,
            Some("wrong-code") => Outcome::TryNext {
                hotp_tried: a.hotp_tried,
            },
            Some("not-enrolled") => return Err(not_enrolled(t)),
            other => return Err(odd(&format!("unexpected outcome {other:?}"))),
        };
        Ok(Decided {
            outcome,
            unsaved: None,
        })
    }
}

fn not_enrolled(t: &Target) -> StoreError {
    StoreError::NotEnrolled(format!(
        "no enrollment for {} in the fleet store",
        t.user.name
    ))
}

/// The store a login uses: the fleet store, and with `on_store_error=local`
/// the secret file behind it, taken for the rest of the login once the
/// fleet store does not answer (logged as degraded by the shell).
pub struct WithFallback<'a> {
    pub fleet: &'a FleetStore,
    pub local: Option<&'a crate::store::FileStore>,
    degraded: RefCell<Option<String>>,
}

impl<'a> WithFallback<'a> {
    pub fn new(fleet: &'a FleetStore, local: Option<&'a crate::store::FileStore>) -> Self {
        WithFallback {
            fleet,
            local,
            degraded: RefCell::new(None),
        }
    }

    /// Why the local file was used, if it was.
    pub fn degraded(&self) -> Option<String> {
        self.degraded.borrow().clone()
    }

    fn run<T>(
        &self,
        fleet: impl FnOnce() -> Result<T, StoreError>,
        local: impl FnOnce(&crate::store::FileStore) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        if let (Some(file), Some(_)) = (self.local, self.degraded()) {
            return local(file);
        }
        match (fleet(), self.local) {
            (Err(StoreError::Unavailable(why)), Some(file)) => {
                *self.degraded.borrow_mut() = Some(why);
                local(file)
            }
            (result, _) => result,
        }
    }
}

impl Store for WithFallback<'_> {
    fn before_prompt(
        &self,
        t: &Target,
        host: Option<&GraceHost>,
        grace_period: u64,
        now: u64,
    ) -> Result<Gate, StoreError> {
        self.run(
            || self.fleet.before_prompt(t, host, grace_period, now),
            |f| f.before_prompt(t, host, grace_period, now),
        )
    }

    fn attempt(&self, t: &Target, a: &Attempt<'_>, now: u64) -> Result<Decided, StoreError> {
        self.run(|| self.fleet.attempt(t, a, now), |f| f.attempt(t, a, now))
    }
}

fn odd(what: &str) -> StoreError {
    StoreError::Unavailable(format!("fleet store: {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_file_parses_and_bad_lines_name_themselves() {
        let conf = FleetConf::parse(
            "# fleet\nconnection = host=db1,db2 dbname=pam_totp sslmode=verify-full\n\
             connect_timeout = 3\nstatement_timeout=500\n",
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            conf.connection,
            "host=db1,db2 dbname=pam_totp sslmode=verify-full"
        );
        assert_eq!(conf.connect_timeout, 3);
        assert_eq!(conf.statement_timeout, Duration::from_millis(500));
        assert_eq!(FleetConf::parse("# nothing\n").unwrap(), None);
        for (text, line, what) in [
            ("connection\n", 1, "name = value"),
            ("\nconnect_timeout = 0\n", 2, "bad value \"0\""),
            ("statement_timeout = soon\n", 1, "bad value \"soon\""),
            ("password = x\n", 1, "unknown setting \"password\""),
        ] {
            let (n, e) = FleetConf::parse(text).unwrap_err();
            assert_eq!(n, line, "{text:?}");
            assert!(e.contains(what), "{text:?}: {e}");
        }
    }
}
