//! `--store postgres`: enrollments in the fleet store (pam_totp's
//! `store=postgres`), through its SQL functions (pam_totp/sql/fleet.sql).
//! Root with an admin login (`pam_totp_admin`) enrolls, imports, lists and
//! removes anyone's; a user whose own database login is in `pam_totp_user`
//! (named like their Unix account) enrolls and removes their own.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use pam_ext::pq;
use pam_totp::enrollment::{Enrollment, Kind};
use pam_totp::fleet::FleetConf;

use crate::failure::{Exit, Failure};

/// The admin's connection file, unless `--store-conf` names another.
pub const DEFAULT_ADMIN_CONF: &str = "/etc/pam_totp/admin.conf";

/// A connection to the fleet store, as the admin or as the user.
pub struct Fleet {
    conn: pq::Connection,
    conf: FleetConf,
    /// Root acting for `--user` (the admin functions), or a user for themselves.
    admin: bool,
}

fn failed(e: pq::Error) -> Failure {
    Failure::system(format!("fleet store: {e}"))
}

impl Fleet {
    pub fn open(conf: &Path, admin: bool) -> Result<Fleet, Failure> {
        let conf = FleetConf::read(conf).map_err(Failure::system)?;
        let conn = pq::Connection::open(&conf.connection, &conf.overrides("totp-enroll"))
            .map_err(failed)?;
        Ok(Fleet { conn, conf, admin })
    }

    fn query(&mut self, sql: &str, params: &[Option<&str>]) -> Result<Vec<pq::Row>, Failure> {
        let deadline = Instant::now() + self.conf.statement_timeout;
        self.conn.query(sql, params, deadline).map_err(failed)
    }

    /// Whether `user` has an enrollment.
    pub fn enrolled(&mut self, user: &str) -> Result<bool, Failure> {
        let rows = self.query("SELECT pam_totp.enrolled($1)", &[Some(user)])?;
        Ok(rows
            .first()
            .and_then(|r| r.first())
            .and_then(|v| v.as_deref())
            == Some("t"))
    }

    /// Saves `e` as `user`'s enrollment, replacing any other in one
    /// transaction (every host then refuses the old secret's codes).
    /// Counter-based enrollments have no place in the fleet store.
    pub fn save(&mut self, user: &str, e: &Enrollment) -> Result<(), Failure> {
        if !matches!(e.kind(), Kind::Totp) {
            return Err(Failure::usage(
                "the fleet store holds time-based enrollments only (no counter-based codes)",
            ));
        }
        // Both hold secrets: written straight into wiped strings, no copies on the way.
        let key = e.key().as_bytes();
        let mut secret = zeroize::Zeroizing::new(String::with_capacity(2 + 2 * key.len()));
        secret.push_str("\\x");
        for b in key {
            let _ = write!(secret, "{b:02x}");
        }
        let mut scratch =
            zeroize::Zeroizing::new(String::with_capacity(2 + 9 * e.scratch_codes().len()));
        scratch.push('{');
        for (i, c) in e.scratch_codes().iter().enumerate() {
            let _ = write!(scratch, "{}{}", if i > 0 { "," } else { "" }, c.value());
        }
        scratch.push('}');
        let (step, window) = (e.step().to_string(), e.window().to_string());
        let reuse = if e.used_steps().is_some() {
            "true"
        } else {
            "false"
        };
        let last = e
            .used_steps()
            .and_then(|u| u.iter().max())
            .map(u64::to_string);
        let limit = e.rate_limit();
        let (attempts, interval) = (
            limit.map(|r| r.attempts.to_string()),
            limit.map(|r| r.interval.to_string()),
        );
        let settings = [
            Some(secret.as_str()),
            Some(scratch.as_str()),
            Some(step.as_str()),
            Some(window.as_str()),
            Some(reuse),
            attempts.as_deref(),
            interval.as_deref(),
            last.as_deref(),
        ];
        if self.admin {
            let mut params = vec![Some(user)];
            params.extend(settings);
            self.query(
                "SELECT pam_totp.enroll($1, $2::bytea, $3::integer[], $4::integer, $5::integer, \
                 $6::boolean, $7::integer, $8::integer, $9::bigint)",
                &params,
            )?;
        } else {
            self.query(
                "SELECT pam_totp.enroll_self($1::bytea, $2::integer[], $3::integer, $4::integer, \
                 $5::boolean, $6::integer, $7::integer, $8::bigint)",
                &settings,
            )?;
        }
        Ok(())
    }

    /// Removes `user`'s enrollment; whether there was one.
    pub fn remove(&mut self, user: &str) -> Result<bool, Failure> {
        let rows = if self.admin {
            self.query("SELECT pam_totp.remove($1)", &[Some(user)])?
        } else {
            self.query("SELECT pam_totp.remove_self()", &[])?
        };
        Ok(rows
            .first()
            .and_then(|r| r.first())
            .and_then(|v| v.as_deref())
            == Some("t"))
    }

    /// The enrollments, without secrets: one line each.
    pub fn list(&mut self) -> Result<Vec<String>, Failure> {
        let rows = self.query(
            "SELECT username, step_size, window_size, disallow_reuse, rate_attempts, \
             rate_interval, scratch_codes, enrolled_at FROM pam_totp.list()",
            &[],
        )?;
        Ok(rows
            .iter()
            .map(|r| {
                let f = |i: usize| r.get(i).cloned().flatten().unwrap_or_default();
                let limit = match (f(4), f(5)) {
                    (a, i) if !a.is_empty() => format!("{a} per {i}s"),
                    _ => "none".to_owned(),
                };
                format!(
                    "{}\tstep {}s\twindow {}\treuse {}\tlimit {limit}\tscratch {}\tsince {}",
                    f(0),
                    f(1),
                    f(2),
                    if f(3) == "t" { "refused" } else { "allowed" },
                    f(6),
                    f(7)
                )
            })
            .collect())
    }
}

/// What `--store postgres` cannot do, said plainly.
pub fn unsupported(what: &str) -> Failure {
    Failure::new(
        Exit::Usage,
        format!(
            "{what} is not available with --store postgres: the fleet store never gives a \
             secret back (enroll again to get a new one)"
        ),
    )
}
