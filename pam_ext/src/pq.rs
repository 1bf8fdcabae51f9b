//! PostgreSQL through libpq, loaded at run time (`dlopen("libpq.so.5")`) only
//! by a module configured for the fleet store, so that the secret-file mode
//! neither links nor needs it.
//!
//! Why libpq: it is the reference client, takes the connection string as the
//! admin writes it (`host=a,b`, `target_session_attrs=read-write`,
//! `sslmode=verify-full`, `sslrootcert`, `sslcert`, `sslkey`), bounds the
//! whole connection setup, TLS included, with `connect_timeout` (per host),
//! and starts no thread. A query is sent without blocking and its answer
//! awaited with `poll(2)` up to a deadline, so a server that stops answering
//! (paused, or a commit waiting for a standby) ends the call in time. Dropping
//! a [`Connection`] closes its socket: nothing is left when a login returns.

use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::fmt;
use std::sync::OnceLock;
use std::time::Instant;

type PgConn = c_void;
type PgResult = c_void;

#[repr(C)]
struct ConninfoOption {
    keyword: *mut c_char,
    envvar: *mut c_char,
    compiled: *mut c_char,
    val: *mut c_char,
    label: *mut c_char,
    dispchar: *mut c_char,
    dispsize: c_int,
}

const CONNECTION_OK: c_int = 0;
const PGRES_COMMAND_OK: c_int = 1;
const PGRES_TUPLES_OK: c_int = 2;

/// The libpq functions used (libpq-fe.h), resolved once per process: a
/// field per function, and `resolve` looking each one up by its name.
macro_rules! libpq {
    ($($field:ident = $sym:literal : $ty:ty;)*) => {
        struct Lib {
            $($field: $ty,)*
        }

        fn resolve(handle: *mut c_void) -> Result<Lib, String> {
            Ok(Lib {
                $($field: {
                    // SAFETY: a NUL-terminated symbol name and a live handle.
                    let p = unsafe { libc::dlsym(handle, concat!($sym, "\0").as_ptr().cast()) };
                    if p.is_null() {
                        return Err(format!("{LIBPQ} lacks {}: {}", $sym, dl_error()));
                    }
                    // SAFETY: the symbol is libpq's function of that name,
                    // whose C signature (libpq-fe.h) is the field's type.
                    unsafe { std::mem::transmute::<*mut c_void, $ty>(p) }
                },)*
            })
        }
    };
}

libpq! {
    connectdb_params = "PQconnectdbParams":
        unsafe extern "C" fn(*const *const c_char, *const *const c_char, c_int) -> *mut PgConn;
    status = "PQstatus": unsafe extern "C" fn(*const PgConn) -> c_int;
    error_message = "PQerrorMessage": unsafe extern "C" fn(*const PgConn) -> *const c_char;
    finish = "PQfinish": unsafe extern "C" fn(*mut PgConn);
    socket = "PQsocket": unsafe extern "C" fn(*const PgConn) -> c_int;
    send_query_params = "PQsendQueryParams": unsafe extern "C" fn(
        *mut PgConn,
        *const c_char,
        c_int,
        *const u32,
        *const *const c_char,
        *const c_int,
        *const c_int,
        c_int,
    ) -> c_int;
    consume_input = "PQconsumeInput": unsafe extern "C" fn(*mut PgConn) -> c_int;
    is_busy = "PQisBusy": unsafe extern "C" fn(*mut PgConn) -> c_int;
    get_result = "PQgetResult": unsafe extern "C" fn(*mut PgConn) -> *mut PgResult;
    result_status = "PQresultStatus": unsafe extern "C" fn(*const PgResult) -> c_int;
    result_error_message = "PQresultErrorMessage": unsafe extern "C" fn(*const PgResult) -> *const c_char;
    ntuples = "PQntuples": unsafe extern "C" fn(*const PgResult) -> c_int;
    nfields = "PQnfields": unsafe extern "C" fn(*const PgResult) -> c_int;
    get_value = "PQgetvalue": unsafe extern "C" fn(*const PgResult, c_int, c_int) -> *const c_char;
    get_is_null = "PQgetisnull": unsafe extern "C" fn(*const PgResult, c_int, c_int) -> c_int;
    clear = "PQclear": unsafe extern "C" fn(*mut PgResult);
    conninfo_parse = "PQconninfoParse":
        unsafe extern "C" fn(*const c_char, *mut *mut c_char) -> *mut ConninfoOption;
    conninfo_free = "PQconninfoFree": unsafe extern "C" fn(*mut ConninfoOption);
    freemem = "PQfreemem": unsafe extern "C" fn(*mut c_void);
}

/// The library's file name, as Debian, Fedora and others install it.
pub const LIBPQ: &str = "libpq.so.5";

static LIB: OnceLock<Result<Lib, String>> = OnceLock::new();

fn lib() -> Result<&'static Lib, Error> {
    LIB.get_or_init(load)
        .as_ref()
        .map_err(|e| Error::Library(e.clone()))
}

fn dl_error() -> String {
    // SAFETY: dlerror returns NULL or a NUL-terminated string valid until the
    // next dl* call on this thread; it is copied at once.
    let e = unsafe { libc::dlerror() };
    if e.is_null() {
        "unknown error".to_owned()
    } else {
        // SAFETY: non-NULL, NUL-terminated (above).
        unsafe { CStr::from_ptr(e) }.to_string_lossy().into_owned()
    }
}

fn load() -> Result<Lib, String> {
    let name = CString::new(LIBPQ).map_err(|e| e.to_string())?;
    // SAFETY: a NUL-terminated file name; RTLD_NOW resolves everything now,
    // so a missing symbol is an error here, not a crash later. The handle is
    // never closed: libpq stays loaded for the life of the process.
    let handle = unsafe { libc::dlopen(name.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
    if handle.is_null() {
        return Err(format!("cannot load {LIBPQ}: {}", dl_error()));
    }
    resolve(handle)
}

/// Why a call failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// libpq could not be loaded.
    Library(String),
    /// The connection string is malformed.
    Conninfo(String),
    /// No connection (refused, unreachable, TLS or authentication failure, timeout).
    Connect(String),
    /// The query failed on the server.
    Query(String),
    /// No answer before the deadline; the connection is closed.
    Timeout,
    /// The connection broke during the query.
    Lost(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Library(e) => f.write_str(e),
            Error::Conninfo(e) => write!(f, "bad connection string: {e}"),
            Error::Connect(e) => write!(f, "cannot connect: {e}"),
            Error::Query(e) => write!(f, "query failed: {e}"),
            Error::Timeout => f.write_str("no answer before the deadline"),
            Error::Lost(e) => write!(f, "connection lost: {e}"),
        }
    }
}

impl std::error::Error for Error {}

/// libpq's message text, on one line.
fn message(p: *const c_char) -> String {
    if p.is_null() {
        return String::new();
    }
    // SAFETY: libpq returns NUL-terminated messages owned by the connection
    // or result, valid until it is next used or freed; copied at once.
    let text = unsafe { CStr::from_ptr(p) }.to_string_lossy();
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The settings of a connection string as libpq reads it (keyword, value),
/// for those that are set; `Err` with libpq's reason when it is malformed.
pub fn parse_conninfo(conninfo: &str) -> Result<Vec<(String, String)>, Error> {
    let lib = lib()?;
    let text = CString::new(conninfo).map_err(|_| Error::Conninfo("contains a NUL byte".into()))?;
    let mut err: *mut c_char = std::ptr::null_mut();
    // SAFETY: a NUL-terminated string and a place for the error message.
    let opts = unsafe { (lib.conninfo_parse)(text.as_ptr(), &mut err) };
    if opts.is_null() {
        let why = if err.is_null() {
            "out of memory".to_owned()
        } else {
            let m = message(err);
            // SAFETY: err was allocated by libpq for the caller to free.
            unsafe { (lib.freemem)(err.cast()) };
            m
        };
        return Err(Error::Conninfo(why));
    }
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        // SAFETY: opts is an array ended by an entry whose keyword is NULL.
        let o = unsafe { &*opts.add(i) };
        if o.keyword.is_null() {
            break;
        }
        if !o.val.is_null() {
            // SAFETY: keyword and val are NUL-terminated strings in the array.
            let (k, v) = unsafe { (CStr::from_ptr(o.keyword), CStr::from_ptr(o.val)) };
            out.push((
                k.to_string_lossy().into_owned(),
                v.to_string_lossy().into_owned(),
            ));
        }
        i += 1;
    }
    // SAFETY: opts came from PQconninfoParse and is freed once.
    unsafe { (lib.conninfo_free)(opts) };
    Ok(out)
}

/// One connection; closed when dropped.
pub struct Connection {
    lib: &'static Lib,
    conn: *mut PgConn,
}

impl Drop for Connection {
    fn drop(&mut self) {
        // SAFETY: conn came from PQconnectdbParams and is finished once.
        unsafe { (self.lib.finish)(self.conn) };
    }
}

/// One row of a result; `None` for SQL NULL.
pub type Row = Vec<Option<String>>;

impl Connection {
    /// Connects with `conninfo` and then `overrides` (keyword, value), which
    /// take precedence over the string's own settings. Blocks for at most
    /// libpq's `connect_timeout` per host.
    pub fn open<V: AsRef<str>>(
        conninfo: &str,
        overrides: &[(&str, V)],
    ) -> Result<Connection, Error> {
        let lib = lib()?;
        let nul =
            |s: &str| CString::new(s).map_err(|_| Error::Conninfo("contains a NUL byte".into()));
        let mut keys = vec![nul("dbname")?];
        let mut values = vec![nul(conninfo)?];
        for (k, v) in overrides {
            keys.push(nul(k)?);
            values.push(nul(v.as_ref())?);
        }
        let mut key_ptrs: Vec<*const c_char> = keys.iter().map(|k| k.as_ptr()).collect();
        let mut value_ptrs: Vec<*const c_char> = values.iter().map(|v| v.as_ptr()).collect();
        key_ptrs.push(std::ptr::null());
        value_ptrs.push(std::ptr::null());
        // SAFETY: two NULL-terminated arrays of NUL-terminated strings that
        // outlive the call; expand_dbname=1 reads the first value as a
        // connection string, with the later keywords overriding it.
        let conn = unsafe { (lib.connectdb_params)(key_ptrs.as_ptr(), value_ptrs.as_ptr(), 1) };
        if conn.is_null() {
            return Err(Error::Connect("out of memory".into()));
        }
        let c = Connection { lib, conn };
        // SAFETY: a live connection.
        if unsafe { (lib.status)(conn) } != CONNECTION_OK {
            // SAFETY: a live connection.
            return Err(Error::Connect(message(unsafe {
                (lib.error_message)(conn)
            })));
        }
        Ok(c)
    }

    fn error(&self) -> String {
        // SAFETY: a live connection.
        message(unsafe { (self.lib.error_message)(self.conn) })
    }

    /// Runs `sql` with text parameters (`None` is NULL) and returns its
    /// rows, waiting for the answer until `deadline` at most.
    pub fn query(
        &mut self,
        sql: &str,
        params: &[Option<&str>],
        deadline: Instant,
    ) -> Result<Vec<Row>, Error> {
        let lib = self.lib;
        let sql = CString::new(sql).map_err(|_| Error::Query("NUL in the query".into()))?;
        let owned: Vec<Option<CString>> = params
            .iter()
            .map(|p| p.map(CString::new).transpose())
            .collect::<Result<_, _>>()
            .map_err(|_| Error::Query("NUL in a parameter".into()))?;
        let ptrs: Vec<*const c_char> = owned
            .iter()
            .map(|p| p.as_ref().map_or(std::ptr::null(), |c| c.as_ptr()))
            .collect();
        let n =
            c_int::try_from(ptrs.len()).map_err(|_| Error::Query("too many parameters".into()))?;
        // SAFETY: a live connection; the query and the parameter array (NULL
        // entries meaning SQL NULL) outlive the call; text formats throughout.
        let sent = unsafe {
            (lib.send_query_params)(
                self.conn,
                sql.as_ptr(),
                n,
                std::ptr::null(),
                ptrs.as_ptr(),
                std::ptr::null(),
                std::ptr::null(),
                0,
            )
        };
        if sent != 1 {
            return Err(Error::Lost(self.error()));
        }
        // SAFETY: a live connection (for each call below).
        while unsafe { (lib.is_busy)(self.conn) } == 1 {
            self.wait_readable(deadline)?;
            // SAFETY: a live connection.
            if unsafe { (lib.consume_input)(self.conn) } != 1 {
                return Err(Error::Lost(self.error()));
            }
        }
        let mut rows = Vec::new();
        let mut failure = None;
        loop {
            // SAFETY: a live connection that is not busy: this does not block.
            let res = unsafe { (lib.get_result)(self.conn) };
            if res.is_null() {
                break;
            }
            let result = Result_ { lib, res };
            match result.status() {
                PGRES_TUPLES_OK => rows.extend(result.rows()),
                PGRES_COMMAND_OK => {}
                _ => failure = Some(result.error()),
            }
            // SAFETY: a live connection.
            while unsafe { (lib.is_busy)(self.conn) } == 1 {
                self.wait_readable(deadline)?;
                // SAFETY: a live connection.
                if unsafe { (lib.consume_input)(self.conn) } != 1 {
                    return Err(Error::Lost(self.error()));
                }
            }
        }
        match failure {
            Some(e) => Err(Error::Query(e)),
            None => Ok(rows),
        }
    }

    /// Waits until the socket has something to read, or the deadline passes.
    fn wait_readable(&self, deadline: Instant) -> Result<(), Error> {
        // SAFETY: a live connection.
        let fd = unsafe { (self.lib.socket)(self.conn) };
        if fd < 0 {
            return Err(Error::Lost(self.error()));
        }
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Error::Timeout);
            }
            let ms = c_int::try_from(left.as_millis().max(1)).unwrap_or(c_int::MAX);
            let mut pfd = libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one pollfd, valid for the call.
            let r = unsafe { libc::poll(&mut pfd, 1, ms) };
            if r > 0 {
                return Ok(());
            }
            if r < 0 && std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
                return Err(Error::Lost(std::io::Error::last_os_error().to_string()));
            }
        }
    }
}

/// A result, cleared when dropped.
struct Result_ {
    lib: &'static Lib,
    res: *mut PgResult,
}

impl Drop for Result_ {
    fn drop(&mut self) {
        // SAFETY: res came from PQgetResult and is cleared once.
        unsafe { (self.lib.clear)(self.res) };
    }
}

impl Result_ {
    fn status(&self) -> c_int {
        // SAFETY: a live result.
        unsafe { (self.lib.result_status)(self.res) }
    }

    fn error(&self) -> String {
        // SAFETY: a live result.
        message(unsafe { (self.lib.result_error_message)(self.res) })
    }

    fn rows(&self) -> Vec<Row> {
        // SAFETY: a live result (for each call below); row and column
        // indices are within PQntuples and PQnfields.
        let (n, m) = unsafe { ((self.lib.ntuples)(self.res), (self.lib.nfields)(self.res)) };
        (0..n)
            .map(|r| {
                (0..m)
                    .map(|c| {
                        // SAFETY: as above.
                        if unsafe { (self.lib.get_is_null)(self.res, r, c) } == 1 {
                            return None;
                        }
                        // SAFETY: as above; the value is a NUL-terminated text.
                        let v = unsafe { CStr::from_ptr((self.lib.get_value)(self.res, r, c)) };
                        Some(v.to_string_lossy().into_owned())
                    })
                    .collect()
            })
            .collect()
    }
}
