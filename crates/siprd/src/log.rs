//! Kamailio-style logging.
//!
//! Lines look like Kamailio's `-E` output, simplified:
//! ```text
//!  3(12345) ERROR: <transport> udp:127.0.0.1:5060: receive failed: ...
//!  1(12346) NOTICE: <script> hello from xlog
//! ```
//! (`rank(tid) LEVEL: <module> message`; `rank` is the worker's rank, 0 for the
//! main thread; with `debug` at 3 a `[file:line]` is added for Rust call sites).
//!
//! The level filter is Kamailio's `debug` value (−5..3) in a global atomic that
//! can be changed at run time ([`set_level`]); [`enabled`] is one relaxed load,
//! so check it before formatting (xlog does). Rust code logs with `tracing`
//! macros (ERROR→L_ERR, WARN→L_WARN, INFO→L_INFO, DEBUG/TRACE→L_DBG; an event
//! field `klevel = N` overrides the level, e.g. `tracing::info!(klevel = 1, ..)`
//! for NOTICE); script-level logging calls [`emit`] directly.
//!
//! Also here: [`RateLimit`], at most one log line per cause per second.

use std::cell::Cell;
use std::fmt::{self, Write as _};
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::OnceLock;

use tracing::field::{Field, Visit};
use tracing::subscriber::Interest;
use tracing::{Event, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

pub const L_ALERT: i32 = -5;
pub const L_BUG: i32 = -4;
pub const L_CRIT2: i32 = -3;
pub const L_CRIT: i32 = -2;
pub const L_ERR: i32 = -1;
pub const L_WARN: i32 = 0;
pub const L_NOTICE: i32 = 1;
pub const L_INFO: i32 = 2;
pub const L_DBG: i32 = 3;

/// Kamailio's default `debug` (L_WARN).
pub const DEFAULT_LEVEL: i32 = L_WARN;

static LEVEL: AtomicI32 = AtomicI32::new(DEFAULT_LEVEL);
static TO_SYSLOG: AtomicBool = AtomicBool::new(false);
static COLOR: AtomicBool = AtomicBool::new(false);
static SYSLOG_FACILITY: AtomicI32 = AtomicI32::new(libc::LOG_DAEMON);

/// The current `debug` level.
pub fn level() -> i32 {
    LEVEL.load(Ordering::Relaxed)
}

/// Sets the `debug` level (at least −5; above 3 only messages logged at
/// those levels, such as `log("text")` at 4, are added); effective
/// immediately in all threads.
pub fn set_level(l: i32) {
    LEVEL.store(l.max(L_ALERT), Ordering::Relaxed);
}

/// Whether a message of level `l` would be printed.
#[inline]
pub fn enabled(l: i32) -> bool {
    l <= LEVEL.load(Ordering::Relaxed)
}

/// The level name Kamailio prints.
pub fn level_name(l: i32) -> &'static str {
    match l {
        i32::MIN..=L_ALERT => "ALERT",
        L_BUG => "BUG",
        L_CRIT2 | L_CRIT => "CRITICAL",
        L_ERR => "ERROR",
        L_WARN => "WARNING",
        L_NOTICE => "NOTICE",
        L_INFO => "INFO",
        _ => "DEBUG",
    }
}

/// Parses `L_ERR`, `ERR`, `-1`, ... (for `debug=` values given as names).
pub fn parse_level(s: &str) -> Option<i32> {
    let t = s.trim();
    if let Ok(n) = t.parse::<i32>() {
        return Some(n);
    }
    let u = t.to_ascii_uppercase();
    let u = u.strip_prefix("L_").unwrap_or(&u);
    Some(match u {
        "ALERT" => L_ALERT,
        "BUG" => L_BUG,
        "CRIT2" => L_CRIT2,
        "CRIT" => L_CRIT,
        "ERR" | "ERROR" => L_ERR,
        "WARN" | "WARNING" => L_WARN,
        "NOTICE" => L_NOTICE,
        "INFO" => L_INFO,
        "DBG" | "DEBUG" => L_DBG,
        _ => return None,
    })
}

thread_local! {
    /// The evaluated `log_prefix` while this thread handles a received
    /// message ([`MsgPrefix`]).
    static MSG_PREFIX: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
    static RANK: Cell<usize> = const { Cell::new(0) };
    static TID: Cell<i64> = const { Cell::new(0) };
}

/// `log_prefix` for the message this thread is handling: Kamailio 5.6
/// evaluates it once when a SIP message is received (before any route) and
/// prints it after the level (`INFO: <prefix><script>: ...`) on every line
/// logged until the message is done; lines logged outside message handling
/// have none. Dropping the guard clears it.
pub struct MsgPrefix(());

impl MsgPrefix {
    pub fn set(text: &[u8]) -> MsgPrefix {
        let text = String::from_utf8_lossy(text).into_owned();
        MSG_PREFIX.with(|p| *p.borrow_mut() = Some(text));
        MsgPrefix(())
    }
}

impl Drop for MsgPrefix {
    fn drop(&mut self) {
        MSG_PREFIX.with(|p| *p.borrow_mut() = None);
    }
}

/// Sets the rank printed for this thread (workers call it at start).
pub fn set_thread_rank(rank: usize) {
    RANK.with(|r| r.set(rank));
}

fn tid() -> i64 {
    TID.with(|t| {
        if t.get() == 0 {
            // SAFETY: gettid has no preconditions.
            t.set(unsafe { libc::syscall(libc::SYS_gettid) } as i64);
        }
        t.get()
    })
}

/// Logging options from the command line and the config.
#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    /// `debug` (None: keep the current level, default L_WARN).
    pub level: Option<i32>,
    /// Log to stderr (`-E` / `log_stderror=yes`); else syslog.
    pub stderr: bool,
    /// `-e`: colour level names (stderr only).
    pub color: bool,
    /// `log_facility` (e.g. `LOG_LOCAL0`); default LOG_DAEMON.
    pub facility: Option<String>,
    /// syslog ident (`log_name`), default "siprd".
    pub name: Option<String>,
}

/// Maps `LOG_LOCAL0`.. / `LOG_DAEMON` / ... to the syslog facility.
pub fn parse_facility(s: &str) -> Option<i32> {
    let u = s.trim().to_ascii_uppercase();
    let u = u.strip_prefix("LOG_").unwrap_or(&u);
    Some(match u {
        "AUTH" => libc::LOG_AUTH,
        "AUTHPRIV" => libc::LOG_AUTHPRIV,
        "CRON" => libc::LOG_CRON,
        "DAEMON" => libc::LOG_DAEMON,
        "FTP" => libc::LOG_FTP,
        "KERN" => libc::LOG_KERN,
        "LOCAL0" => libc::LOG_LOCAL0,
        "LOCAL1" => libc::LOG_LOCAL1,
        "LOCAL2" => libc::LOG_LOCAL2,
        "LOCAL3" => libc::LOG_LOCAL3,
        "LOCAL4" => libc::LOG_LOCAL4,
        "LOCAL5" => libc::LOG_LOCAL5,
        "LOCAL6" => libc::LOG_LOCAL6,
        "LOCAL7" => libc::LOG_LOCAL7,
        "LPR" => libc::LOG_LPR,
        "MAIL" => libc::LOG_MAIL,
        "NEWS" => libc::LOG_NEWS,
        "SYSLOG" => libc::LOG_SYSLOG,
        "USER" => libc::LOG_USER,
        "UUCP" => libc::LOG_UUCP,
        _ => return None,
    })
}

/// Log events raised before [`init`] (module parameters and start-up checks
/// run while the config is loaded, before its `debug` and `log_stderror` are
/// known): held by [`hold_until_init`], written by `init` if its level allows.
static EARLY: parking_lot::Mutex<Option<Vec<HeldEvent>>> = parking_lot::Mutex::new(None);
/// (level, module, message) of an event held until [`init`].
type HeldEvent = (i32, &'static str, String);
static HOLDING: AtomicBool = AtomicBool::new(false);

/// Hold log events until [`init`] (call before loading the config).
pub fn hold_until_init() {
    *EARLY.lock() = Some(Vec::new());
    HOLDING.store(true, Ordering::Relaxed);
    install_layer();
}

/// Write the held events the current level allows, and stop holding.
fn release_held() {
    HOLDING.store(false, Ordering::Relaxed);
    let held = EARLY.lock().take().unwrap_or_default();
    for (level, module, msg) in held {
        if enabled(level) {
            write_line(level, module, None, &msg);
        }
    }
}

/// Applies options; may be called again later (e.g. after the config is read)
/// to change level, destination, prefix. Installs the tracing layer on the first
/// call. Errors only for an unknown facility name.
pub fn init(opts: &LogOptions) -> Result<(), String> {
    if let Some(l) = opts.level {
        set_level(l);
    }
    COLOR.store(opts.color && opts.stderr, Ordering::Relaxed);
    if let Some(f) = &opts.facility {
        let fac = parse_facility(f).ok_or_else(|| format!("unknown log_facility `{f}`"))?;
        SYSLOG_FACILITY.store(fac, Ordering::Relaxed);
    }
    if !opts.stderr {
        static IDENT: OnceLock<std::ffi::CString> = OnceLock::new();
        let ident = IDENT.get_or_init(|| {
            std::ffi::CString::new(opts.name.clone().unwrap_or_else(|| "siprd".into()))
                .unwrap_or_default()
        });
        // SAFETY: ident lives for the whole process.
        unsafe {
            libc::openlog(
                ident.as_ptr(),
                libc::LOG_PID,
                SYSLOG_FACILITY.load(Ordering::Relaxed),
            )
        };
    }
    TO_SYSLOG.store(!opts.stderr, Ordering::Relaxed);
    install_layer();
    release_held();
    Ok(())
}

fn install_layer() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        use tracing_subscriber::prelude::*;
        let _ = tracing_subscriber::registry()
            .with(KamailioLayer)
            .try_init();
    });
}

/// Prints one log line if `level` is enabled.
pub fn emit(level: i32, module: &str, args: fmt::Arguments<'_>) {
    if !enabled(level) {
        return;
    }
    let mut s = String::with_capacity(128);
    let _ = s.write_fmt(args);
    write_line(level, module, None, &s);
}

/// Like [`emit`] for a ready string.
pub fn emit_str(level: i32, module: &str, msg: &str) {
    if enabled(level) {
        write_line(level, module, None, msg);
    }
}

/// Prints `LEVEL: {head}: {msg}`: `head` verbatim, for lines that carry
/// Kamailio's own source location (`<core> [core/kemi.c:106]: sr_kemi_core_info()`,
/// `app_lua [app_lua_api.c:786]: app_lua_run_ex()`).
pub fn emit_head(level: i32, head: &str, msg: &str) {
    if enabled(level) {
        write_line(level, head, Some(("", 0)), msg);
    }
}

fn color_of(level: i32) -> &'static str {
    match level {
        i32::MIN..=L_ERR => "\x1b[31;1m",
        L_WARN => "\x1b[33;1m",
        L_NOTICE => "\x1b[32;1m",
        L_INFO => "\x1b[35;1m",
        _ => "\x1b[36;1m",
    }
}

fn write_line(level: i32, module: &str, loc: Option<(&str, u32)>, msg: &str) {
    let mut line = String::with_capacity(msg.len() + 64);
    let rank = RANK.with(|r| r.get());
    let _ = write!(line, "{rank:2}({}) ", tid());
    let color = COLOR.load(Ordering::Relaxed);
    if color {
        line.push_str(color_of(level));
    }
    line.push_str(level_name(level));
    line.push(':');
    if color {
        line.push_str("\x1b[0m");
    }
    line.push(' ');
    MSG_PREFIX.with(|p| {
        if let Some(p) = p.borrow().as_deref() {
            line.push_str(p);
        }
    });
    match loc {
        // emit_head: the module part is printed verbatim
        Some(("", 0)) => line.push_str(module),
        Some((f, l)) => {
            let _ = write!(line, "<{module}> [{f}:{l}]");
        }
        None => {
            let _ = write!(line, "<{module}>");
        }
    }
    line.push_str(": ");
    line.push_str(msg.trim_end_matches('\n'));
    if TO_SYSLOG.load(Ordering::Relaxed) {
        let prio = match level {
            i32::MIN..=L_ALERT => libc::LOG_ALERT,
            L_BUG | L_CRIT2 | L_CRIT => libc::LOG_CRIT,
            L_ERR => libc::LOG_ERR,
            L_WARN => libc::LOG_WARNING,
            L_NOTICE => libc::LOG_NOTICE,
            L_INFO => libc::LOG_INFO,
            _ => libc::LOG_DEBUG,
        };
        let c = std::ffi::CString::new(line.replace('\0', "\\0")).unwrap_or_default();
        // SAFETY: constant format string with one %s argument.
        unsafe {
            libc::syslog(
                prio | SYSLOG_FACILITY.load(Ordering::Relaxed),
                c"%s".as_ptr(),
                c.as_ptr(),
            )
        };
        return;
    }
    line.push('\n');
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

fn tracing_level(l: &tracing::Level) -> i32 {
    match *l {
        tracing::Level::ERROR => L_ERR,
        tracing::Level::WARN => L_WARN,
        tracing::Level::INFO => L_INFO,
        _ => L_DBG,
    }
}

/// The module name printed for a tracing target.
fn module_of(target: &str) -> &str {
    if let Some(rest) = target.strip_prefix("siprd::modules::") {
        return rest.split("::").next().unwrap_or(rest);
    }
    if target == "siprd" || target.starts_with("siprd::") || target.starts_with("siprd_") {
        return "core";
    }
    target
}

/// The tracing layer printing Kamailio-style lines (installed by [`init`]).
pub struct KamailioLayer;

#[derive(Default)]
struct Fields {
    msg: String,
    extra: String,
    klevel: Option<i32>,
    suppressed: u64,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.msg, "{value:?}");
        } else {
            let _ = write!(self.extra, " {}={value:?}", field.name());
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.msg.push_str(value);
        } else {
            let _ = write!(self.extra, " {}={value}", field.name());
        }
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        if field.name() == "klevel" {
            self.klevel = Some(value as i32);
        } else {
            let _ = write!(self.extra, " {}={value}", field.name());
        }
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        match field.name() {
            "suppressed" => self.suppressed = value,
            "klevel" => self.klevel = Some(value as i32),
            n => {
                let _ = write!(self.extra, " {n}={value}");
            }
        }
    }
}

impl<S: Subscriber> Layer<S> for KamailioLayer {
    fn register_callsite(&self, _m: &'static Metadata<'static>) -> Interest {
        // The level can change at run time: ask `enabled` every time.
        Interest::sometimes()
    }

    fn enabled(&self, m: &Metadata<'_>, _ctx: Context<'_, S>) -> bool {
        // Events carrying `klevel` are decided in on_event (NOTICE is below INFO).
        m.is_span()
            || (HOLDING.load(Ordering::Relaxed) && tracing_level(m.level()) <= L_INFO)
            || enabled(tracing_level(m.level()))
            || (m.fields().field("klevel").is_some() && enabled(L_NOTICE))
    }

    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let m = event.metadata();
        let mut f = Fields::default();
        event.record(&mut f);
        let level = f.klevel.unwrap_or_else(|| tracing_level(m.level()));
        if HOLDING.load(Ordering::Relaxed) {
            if let Some(held) = EARLY.lock().as_mut() {
                f.msg.push_str(&f.extra);
                held.push((level, module_of(m.target()), f.msg));
                return;
            }
        }
        if !enabled(level) {
            return;
        }
        if f.suppressed > 0 {
            let _ = write!(f.msg, " ({} similar messages suppressed)", f.suppressed);
        }
        f.msg.push_str(&f.extra);
        let loc = if level >= L_DBG && LEVEL.load(Ordering::Relaxed) >= L_DBG {
            m.file().zip(m.line())
        } else {
            None
        };
        write_line(level, module_of(m.target()), loc, &f.msg);
    }
}

/// At most one event per second per cause: keep one `static` per cause.
///
/// ```
/// use siprd::log::RateLimit;
/// static RL: RateLimit = RateLimit::new();
/// if let Some(suppressed) = RL.check() {
///     tracing::warn!(suppressed, "bad thing happened");
/// }
/// ```
pub struct RateLimit {
    /// Monotonic ms of the last allowed event, +1 (0 = never).
    last: AtomicU64,
    suppressed: AtomicU64,
    interval_ms: u64,
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit::new()
    }
}

impl RateLimit {
    pub const fn new() -> RateLimit {
        RateLimit::with_interval_ms(1000)
    }

    pub const fn with_interval_ms(interval_ms: u64) -> RateLimit {
        RateLimit {
            last: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
            interval_ms,
        }
    }

    /// `Some(n)` if the event may be logged now (`n` events were suppressed since
    /// the last allowed one), else `None` (counted as suppressed).
    pub fn check(&self) -> Option<u64> {
        let now = mono_ms() + 1;
        let last = self.last.load(Ordering::Relaxed);
        if (last == 0 || now.saturating_sub(last) >= self.interval_ms)
            && self
                .last
                .compare_exchange(last, now, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            return Some(self.suppressed.swap(0, Ordering::AcqRel));
        }
        self.suppressed.fetch_add(1, Ordering::Relaxed);
        None
    }

    /// Like [`check`](RateLimit::check) without the count.
    pub fn allow(&self) -> bool {
        self.check().is_some()
    }
}

fn mono_ms() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid pointer; CLOCK_MONOTONIC_COARSE cannot fail on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    ts.tv_sec as u64 * 1000 + ts.tv_nsec as u64 / 1_000_000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limit() {
        let rl = RateLimit::with_interval_ms(200);
        assert_eq!(rl.check(), Some(0));
        for _ in 0..5 {
            assert_eq!(rl.check(), None);
        }
        std::thread::sleep(std::time::Duration::from_millis(260));
        assert_eq!(rl.check(), Some(5));
        assert!(!rl.allow());
    }

    #[test]
    fn levels() {
        assert_eq!(parse_level("L_NOTICE"), Some(1));
        assert_eq!(parse_level("-1"), Some(-1));
        assert_eq!(parse_level("dbg"), Some(3));
        assert_eq!(parse_level("nope"), None);
        assert_eq!(level_name(L_WARN), "WARNING");
        assert_eq!(level_name(L_CRIT), "CRITICAL");
        assert_eq!(level_name(-6), "ALERT");
        assert_eq!(module_of("siprd::modules::sl::reply"), "sl");
        assert_eq!(module_of("siprd::transport"), "core");
        assert_eq!(module_of("transport"), "transport");
        assert_eq!(parse_facility("LOG_LOCAL0"), Some(libc::LOG_LOCAL0));
        assert_eq!(parse_facility("bogus"), None);
    }
}
