//! A real PostgreSQL server for a test, started in a temporary directory and
//! stopped when dropped: initdb, a Unix socket in the directory and a TLS
//! port on 127.0.0.1 with a certificate from a test CA (made with openssl),
//! client certificates for host logins, and the fleet schema loaded.
//!
//! As root the server runs as the `postgres` account (initdb and postgres
//! refuse root); its directory is short, since a socket path has at most
//! 107 bytes. Debian's postgresql package provides the programs.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::running_as_root;

/// Where Debian puts the server programs.
fn bin_dir() -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").exists() && p.join("pg_ctl").exists())
        .collect();
    versions.sort();
    versions.pop()
}

/// Whether a server can be started here.
pub fn available() -> bool {
    bin_dir().is_some() && crate::program_present("openssl", "version")
}

/// A server and what a test connects to it with.
pub struct Server {
    pub dir: PathBuf,
    pub port: u16,
    bin: PathBuf,
    /// The account the server runs as (`postgres` when the tests run as root).
    owner: Option<(u32, u32)>,
    pub ca: PathBuf,
    pub data: PathBuf,
    running: bool,
}

fn ok(what: &str, out: std::io::Result<Output>) -> String {
    let out = out.unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what}: {}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port: {e}"))
}

fn openssl(dir: &Path, args: &[&str]) {
    ok(
        &format!("openssl {}", args.join(" ")),
        Command::new("openssl").args(args).current_dir(dir).output(),
    );
}

impl Server {
    /// Starts a server with the fleet schema in database `pam_totp`.
    pub fn start(schema: &Path) -> Server {
        let bin = bin_dir().unwrap_or_else(|| panic!("PostgreSQL is not installed"));
        let base = tempfile::Builder::new()
            .prefix("pgt")
            .tempdir_in("/tmp")
            .unwrap_or_else(|e| panic!("{e}"))
            .keep();
        let owner = running_as_root().then(|| {
            let out = ok(
                "id postgres",
                Command::new("id").args(["-u", "postgres"]).output(),
            );
            let uid: u32 = out.trim().parse().unwrap_or_else(|e| panic!("{e}"));
            let gid_out = ok(
                "id -g postgres",
                Command::new("id").args(["-g", "postgres"]).output(),
            );
            (
                uid,
                gid_out.trim().parse().unwrap_or_else(|e| panic!("{e}")),
            )
        });
        std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o755))
            .unwrap_or_else(|e| panic!("{e}"));
        let data = base.join("data");
        let mut s = Server {
            dir: base.clone(),
            port: free_port(),
            bin,
            owner,
            ca: base.join("ca.crt"),
            data,
            running: false,
        };
        s.make_certificates();
        std::fs::create_dir(&s.data).unwrap_or_else(|e| panic!("{e}"));
        std::fs::set_permissions(&s.data, std::fs::Permissions::from_mode(0o700))
            .unwrap_or_else(|e| panic!("{e}"));
        s.chown(&s.data.clone());
        let sock = s.socket_dir();
        std::fs::create_dir(&sock).unwrap_or_else(|e| panic!("{e}"));
        s.chown(&sock);
        s.as_owner(
            &s.bin.join("initdb"),
            &[
                "-D",
                &s.data_str(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ],
        );
        let server_files = ["server.crt", "server.key", "ca.crt"];
        for f in server_files {
            let to = s.data.join(f);
            std::fs::copy(base.join(f), &to).unwrap_or_else(|e| panic!("{e}"));
            s.chown(&to);
            std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o600))
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let conf = format!(
            "listen_addresses = '127.0.0.1'\nport = {}\nunix_socket_directories = '{}'\n\
             ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\nssl_ca_file = 'ca.crt'\n\
             fsync = off\nmax_connections = 100\n",
            s.port,
            s.socket_dir().display()
        );
        append(&s.data.join("postgresql.conf"), &conf);
        std::fs::write(
            s.data.join("pg_hba.conf"),
            "local all all trust\nlocal replication all trust\nhostssl all all 127.0.0.1/32 cert\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        s.start_again();
        s.psql("postgres", "CREATE DATABASE pam_totp");
        ok(
            "loading the fleet schema",
            Command::new(s.bin.join("psql"))
                .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h"])
                .arg(s.socket_dir())
                .args([
                    "-p",
                    &s.port.to_string(),
                    "-U",
                    "postgres",
                    "-d",
                    "pam_totp",
                    "-f",
                ])
                .arg(schema)
                .output(),
        );
        s
    }

    /// The directory of the server's Unix socket.
    pub fn socket_dir(&self) -> PathBuf {
        self.dir.join("s")
    }

    fn data_str(&self) -> String {
        self.data.display().to_string()
    }

    fn chown(&self, p: &Path) {
        if let Some((uid, gid)) = self.owner {
            std::os::unix::fs::chown(p, Some(uid), Some(gid)).unwrap_or_else(|e| panic!("{e}"));
        }
    }

    fn as_owner(&self, program: &Path, args: &[&str]) -> String {
        let mut cmd = if self.owner.is_some() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        };
        cmd.args(args).current_dir(&self.dir);
        ok(
            &format!("{} {}", program.display(), args.join(" ")),
            cmd.output(),
        )
    }

    fn make_certificates(&self) {
        let d = &self.dir;
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        let mut ca = vec!["req", "-x509"];
        ca.extend(ec);
        ca.extend([
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "2",
            "-subj",
            "/CN=pam_totp test CA",
        ]);
        openssl(d, &ca);
        std::fs::write(
            d.join("server.ext"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let mut req = vec!["req"];
        req.extend(ec);
        req.extend([
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ]);
        openssl(d, &req);
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "server.crt",
                "-days",
                "2",
                "-extfile",
                "server.ext",
            ],
        );
        std::fs::set_permissions(d.join("ca.crt"), std::fs::Permissions::from_mode(0o644))
            .unwrap_or_else(|e| panic!("{e}"));
    }

    /// A client certificate and key for login `name` (CN=name), mode 0600,
    /// owned by whoever runs the test; returns (certificate, key).
    pub fn client_certificate(&self, name: &str) -> (PathBuf, PathBuf) {
        let d = &self.dir;
        let (crt, key, csr) = (
            format!("{name}.crt"),
            format!("{name}.key"),
            format!("{name}.csr"),
        );
        openssl(
            d,
            &[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-keyout",
                &key,
                "-out",
                &csr,
                "-subj",
                &format!("/CN={name}"),
            ],
        );
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &crt,
                "-days",
                "2",
            ],
        );
        for f in [&crt, &key] {
            std::fs::set_permissions(d.join(f), std::fs::Permissions::from_mode(0o600))
                .unwrap_or_else(|e| panic!("{e}"));
        }
        (d.join(crt), d.join(key))
    }

    /// Runs SQL as the superuser over the Unix socket; returns psql's output
    /// (unaligned, tuples only).
    pub fn psql(&self, db: &str, sql: &str) -> String {
        ok(
            &format!("psql: {sql}"),
            Command::new(self.bin.join("psql"))
                .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h"])
                .arg(self.socket_dir())
                .args([
                    "-p",
                    &self.port.to_string(),
                    "-U",
                    "postgres",
                    "-d",
                    db,
                    "-c",
                    sql,
                ])
                .output(),
        )
    }

    /// psql as login `user` over TLS with its certificate; the raw output.
    pub fn psql_as(&self, user: &str, sql: &str) -> Output {
        let (crt, key) = (
            self.dir.join(format!("{user}.crt")),
            self.dir.join(format!("{user}.key")),
        );
        Command::new(self.bin.join("psql"))
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .arg(self.conninfo(user, &crt, &key))
            .output()
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// A connection string for login `user` over TLS with full verification.
    pub fn conninfo(&self, user: &str, crt: &Path, key: &Path) -> String {
        format!(
            "host=localhost hostaddr=127.0.0.1 port={} dbname=pam_totp user={user} sslmode=verify-full \
             sslrootcert={} sslcert={} sslkey={}",
            self.port,
            self.ca.display(),
            crt.display(),
            key.display()
        )
    }

    /// A login in `role` with a client certificate; returns (certificate, key).
    pub fn host_login(&self, name: &str, role: &str) -> (PathBuf, PathBuf) {
        self.psql(
            "pam_totp",
            &format!("CREATE ROLE \"{name}\" LOGIN IN ROLE {role}"),
        );
        self.client_certificate(name)
    }

    /// A synchronous standby of this server (pg_basebackup, its own port and
    /// socket), streaming from it; this server then waits for the standby
    /// to apply each commit before the commit returns (`remote_apply`).
    pub fn start_standby(&self) -> Server {
        let base = tempfile::Builder::new()
            .prefix("pgs")
            .tempdir_in("/tmp")
            .unwrap_or_else(|e| panic!("{e}"))
            .keep();
        std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o755))
            .unwrap_or_else(|e| panic!("{e}"));
        let mut s = Server {
            dir: base.clone(),
            port: free_port(),
            bin: self.bin.clone(),
            owner: self.owner,
            ca: self.ca.clone(),
            data: base.join("data"),
            running: false,
        };
        for d in [s.data.clone(), s.socket_dir()] {
            std::fs::create_dir(&d).unwrap_or_else(|e| panic!("{e}"));
            std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700))
                .unwrap_or_else(|e| panic!("{e}"));
            s.chown(&d);
        }
        let primary = self.socket_dir().display().to_string();
        s.as_owner(
            &s.bin.join("pg_basebackup"),
            &[
                "-D",
                &s.data_str(),
                "-h",
                &primary,
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-X",
                "stream",
                "-c",
                "fast",
                "--no-sync",
            ],
        );
        std::fs::write(s.data.join("standby.signal"), "").unwrap_or_else(|e| panic!("{e}"));
        s.chown(&s.data.join("standby.signal"));
        append(
            &s.data.join("postgresql.conf"),
            &format!(
                "port = {}\nunix_socket_directories = '{}'\n\
                 primary_conninfo = 'host={primary} port={} user=postgres application_name=standby'\n",
                s.port,
                s.socket_dir().display(),
                self.port
            ),
        );
        s.start_again();
        self.psql(
            "postgres",
            "ALTER SYSTEM SET synchronous_standby_names = 'standby'",
        );
        self.psql(
            "postgres",
            "ALTER SYSTEM SET synchronous_commit = 'remote_apply'",
        );
        self.psql("postgres", "SELECT pg_reload_conf()");
        // Until the standby is streaming and synchronous, commits would not wait for it.
        for _ in 0..100 {
            let state = self.psql("postgres", "SELECT sync_state FROM pg_stat_replication");
            if state.trim() == "sync" {
                return s;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("the standby did not become synchronous");
    }

    /// Makes this standby the primary, and lets its commits go on without a standby.
    pub fn promote(&self) {
        self.as_owner(
            &self.bin.join("pg_ctl"),
            &["-D", &self.data_str(), "-w", "promote"],
        );
        self.psql(
            "postgres",
            "ALTER SYSTEM SET synchronous_standby_names = ''",
        );
        self.psql("postgres", "SELECT pg_reload_conf()");
    }

    /// The postmaster's pid.
    pub fn pid(&self) -> i32 {
        std::fs::read_to_string(self.data.join("postmaster.pid"))
            .ok()
            .and_then(|t| t.lines().next().and_then(|l| l.trim().parse().ok()))
            .unwrap_or_else(|| panic!("no postmaster.pid in {}", self.data.display()))
    }

    /// Stops the server at once (as a crash would).
    pub fn stop(&mut self) {
        if self.running {
            self.as_owner(
                &self.bin.join("pg_ctl"),
                &["-D", &self.data_str(), "-m", "immediate", "-w", "stop"],
            );
            self.running = false;
        }
    }

    pub fn start_again(&mut self) {
        let log = self.dir.join("server.log").display().to_string();
        if self.owner.is_some() {
            // The log file is written by the server's account.
            std::fs::write(&log, "").unwrap_or_else(|e| panic!("{e}"));
            self.chown(Path::new(&log));
        }
        let pg_ctl = self.bin.join("pg_ctl");
        let args = [
            "-D",
            &self.data_str(),
            "-l",
            &log,
            "-w",
            "-t",
            "30",
            "start",
        ];
        let started = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.as_owner(&pg_ctl, &args);
        }));
        if started.is_err() {
            panic!(
                "the server did not start; its log:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        self.running = true;
    }

    /// Sends `signal` to the postmaster (SIGSTOP pauses it: new connections
    /// are accepted by the kernel and then never answered).
    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) with a pid and a signal number; no memory involved.
        let r = unsafe { libc::kill(self.pid(), signal) };
        assert_eq!(r, 0, "kill({}, {signal}) failed", self.pid());
    }
}

impl Server {
    /// Sends `signal` to the postmaster and every process it started (on a
    /// standby, SIGSTOP then stops the WAL receiver too: nothing is acknowledged).
    pub fn signal_all(&self, signal: i32) {
        let pid = self.pid();
        let children: Vec<i32> = std::fs::read_dir("/proc")
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
                    .filter(|p| parent_of(*p) == Some(pid))
                    .collect()
            })
            .unwrap_or_default();
        for p in children.into_iter().chain([pid]) {
            // SAFETY: kill(2) with a pid and a signal number; no memory involved.
            unsafe { libc::kill(p, signal) };
        }
    }
}

/// The parent pid of `pid`, from /proc/PID/stat (the field after the name).
fn parent_of(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(1)?.parse().ok()
}

fn append(path: &Path, text: &str) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    f.write_all(text.as_bytes())
        .unwrap_or_else(|e| panic!("{e}"));
}

impl Drop for Server {
    fn drop(&mut self) {
        // A paused server is woken first, so that it can be stopped.
        if self.running {
            self.signal_all(libc::SIGCONT);
        }
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
