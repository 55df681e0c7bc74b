//! Command line: Kamailio's flags (most accepted and harmless) and `siprd ctl`.
//!
//! Short options follow getopt: flags may be combined (`-DD`, `-dd`, `-cE`), and an
//! option's value may be attached (`-ffile`, `-n4`) or the next argument
//! (`-f file`). Long options take `--name=value` or `--name value`.

use std::fmt;
use std::path::PathBuf;

/// What to do.
#[allow(clippy::large_enum_variant)] // built once per process
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cli {
    /// Run the server (`-c`: only check the config and exit).
    Run(RunOpts),
    Version,
    Help,
    /// `siprd ctl [-s ADDR] METHOD [PARAMS...]`.
    Ctl(CtlOpts),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CtlOpts {
    /// `-s ADDR`: the control socket (default: the RPC listener of the local server).
    pub socket: Option<String>,
    /// `-f FILE`: take the endpoint from this config's jsonrpcs parameters.
    pub config: Option<PathBuf>,
    pub method: String,
    pub params: Vec<String>,
}

/// `--subst` family (preprocessor directives given on the command line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubstKind {
    Subst,
    Substdef,
    Substdefs,
}

/// Options of a server run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunOpts {
    /// `-f FILE`; `None`: the bundled default config.
    pub config: Option<PathBuf>,
    /// `-c`: check the config and exit.
    pub check_only: bool,
    /// `--cfg-print`: print the preprocessed config and exit.
    pub cfg_print: bool,
    /// `-A NAME[=VALUE]` (in order; the value is kept verbatim, quotes included).
    pub defines: Vec<(String, Option<String>)>,
    /// `--debug=N` (absolute level).
    pub debug: Option<i32>,
    /// Number of `-d` flags (each raises the level by one, from 0 as Kamailio).
    pub debug_incr: u32,
    /// Number of `-D` flags (siprd always stays in the foreground).
    pub foreground: u32,
    /// `-E`: log to stderr.
    pub log_stderr: bool,
    /// `-e`: coloured log levels.
    pub log_color: bool,
    /// `-l ADDR` (Kamailio listen syntax; repeatable).
    pub listen: Vec<String>,
    /// `-n N`: `children`.
    pub children: Option<usize>,
    /// `-N N`: `tcp_children`.
    pub tcp_children: Option<usize>,
    /// `-T`: disable TCP.
    pub disable_tcp: bool,
    /// `--alias=VAL` (repeatable).
    pub aliases: Vec<String>,
    /// `--loadmodule=NAME` (repeatable).
    pub loadmodules: Vec<String>,
    /// `--modparam=mod:param:type:value` (repeatable, verbatim).
    pub modparams: Vec<String>,
    pub substs: Vec<(SubstKind, String)>,
    /// `--server-id=N`.
    pub server_id: Option<u32>,
    /// `-P FILE`: write the pid there.
    pub pid_file: Option<PathBuf>,
    /// `-w DIR`: working directory.
    pub workdir: Option<PathBuf>,
    /// `-u USER`, `-g GROUP` (recorded; siprd does not switch identity).
    pub user: Option<String>,
    pub group: Option<String>,
    /// `-M`, `-m` (megabytes; accepted, no effect).
    pub pkg_mem_mb: Option<u64>,
    pub shm_mem_mb: Option<u64>,
    /// `-x`, `-X` (memory managers; accepted, no effect).
    pub shm_manager: Option<String>,
    pub pkg_manager: Option<String>,
    /// `-L DIR` (module path; accepted, no effect: modules are built in).
    pub module_path: Option<String>,
    /// Options accepted without effect, as written (for a debug log line).
    pub ignored: Vec<String>,
}

impl RunOpts {
    /// The `debug` level from the command line, if any (`--debug` wins over `-d`).
    pub fn debug_level(&self) -> Option<i32> {
        self.debug
            .or_else(|| (self.debug_incr > 0).then_some(self.debug_incr.min(8) as i32))
    }
}

/// A command-line error; `Display` includes a hint to `--help`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError {
    pub message: String,
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "siprd: {}\n{}\nTry 'siprd --help' for more information.",
            self.message, USAGE
        )
    }
}

impl std::error::Error for CliError {}

fn err<T>(m: impl Into<String>) -> Result<T, CliError> {
    Err(CliError { message: m.into() })
}

pub const USAGE: &str = "Usage: siprd [-f FILE] [-c] [-A NAME[=VALUE]]... [-d]... [-D]... [-E] [-e] [options]\n       siprd ctl [-s ADDR | -f FILE] METHOD [PARAMS...]";

/// The `--help` text.
pub fn help_text() -> String {
    format!(
        "siprd {version} - a SIP routing server running Kamailio-style configuration files\n\n\
{USAGE}\n\n\
Options:\n\
    -f FILE        Configuration file (default: the bundled etc/siprd.cfg)\n\
    -c             Check the configuration file and exit\n\
    --cfg-print    Print the preprocessed configuration and exit\n\
    -A NAME[=VAL]  Add a preprocessor define (e.g. -A WITH_AUTH, -A 'PORT=5080')\n\
    -d             Raise the debug level by one (from 0; repeatable: -dd)\n\
    --debug=N      Set the debug level (-5..3, as the `debug` parameter)\n\
    -E             Log to stderr (siprd runs in the foreground)\n\
    -e             Colour log levels (with -E)\n\
    -l ADDR        Listen on ADDR ([proto:]host[:port][/advertised]); repeatable\n\
    -n N           UDP worker threads per listener (`children`)\n\
    -N N           TCP worker threads (`tcp_children`)\n\
    -T             Disable TCP\n\
    --alias=VAL    Add an alias ([proto:]host[:port])\n\
    --loadmodule=NAME      Load a module (as `loadmodule`)\n\
    --modparam=MOD:PARAM:TYPE:VALUE  Set a module parameter (TYPE s or i)\n\
    --subst=EXP, --substdef=EXP, --substdefs=EXP  Preprocessor substitutions\n\
    --server-id=N  Set `server_id`\n\
    -P FILE        Write the process id to FILE\n\
    -w DIR         Change the working directory\n\
    -V, -v, --version  Print the version and exit\n\
    --kemi-list    Print the KEMI exports (KSR.*) of every module and exit\n\
    --functions    Print every config function (module, name, arity) and exit\n\
    --modules      Print the name of every module siprd provides and exit\n\
    -h, --help     Print this help and exit\n\n\
Accepted for compatibility with Kamailio, without effect:\n\
    -D (-DD, -DDD: siprd never daemonizes), -M N, -m N, -x NAME, -X NAME, -L DIR,\n\
    -u USER, -g GROUP, -G FILE, -a MODE, -b N, -O N, -Q N, -t DIR, -W TYPE, -Y DIR,\n\
    -I, -K, -r, -R, -S, --atexit=VAL, --log-engine=VAL\n\n\
Control:\n\
    siprd ctl METHOD [PARAMS...]   Call an RPC method on the running server\n\
                                   (like kamcmd), e.g. siprd ctl core.version\n\
    -s ADDR                        Control socket: udp:HOST:PORT, a unix socket\n\
                                   path, or fifo:PATH\n\
    -f FILE                        Take it from FILE's jsonrpcs parameters\n\
                                   (dgram_socket, else fifo_name)\n",
        version = env!("CARGO_PKG_VERSION")
    )
}

/// Short options that take a value.
const SHORT_WITH_VALUE: &[char] = &[
    'a', 'A', 'b', 'f', 'g', 'G', 'l', 'L', 'm', 'M', 'n', 'N', 'O', 'P', 'Q', 't', 'u', 'w', 'W',
    'x', 'X', 'Y',
];
/// Short flags.
const SHORT_FLAGS: &[char] = &[
    'c', 'd', 'D', 'e', 'E', 'h', 'I', 'K', 'r', 'R', 'S', 'T', 'v', 'V',
];

/// Long options: (name, takes value).
const LONG: &[(&str, bool)] = &[
    ("alias", true),
    ("atexit", true),
    ("cfg-print", false),
    ("debug", true),
    ("help", false),
    ("loadmodule", true),
    ("log-engine", true),
    ("modparam", true),
    ("server-id", true),
    ("subst", true),
    ("substdef", true),
    ("substdefs", true),
    ("version", false),
];

fn num<T: std::str::FromStr>(opt: &str, v: &str) -> Result<T, CliError> {
    v.trim().parse().map_err(|_| CliError {
        message: format!("option {opt} expects a number, got `{v}`"),
    })
}

/// Parses the arguments after the program name.
pub fn parse<I, S>(args: I) -> Result<Cli, CliError>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let args: Vec<String> = args.into_iter().map(Into::into).collect();
    if args.first().map(String::as_str) == Some("ctl") {
        return parse_ctl(&args[1..]);
    }
    let mut o = RunOpts::default();
    let mut version = false;
    let mut help = false;
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        i += 1;
        if let Some(long) = a.strip_prefix("--") {
            if long.is_empty() {
                if i < args.len() {
                    return err(format!("unexpected argument `{}`", args[i]));
                }
                break;
            }
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (long, None),
            };
            let Some(&(name, takes)) = LONG.iter().find(|(n, _)| *n == name) else {
                return err(format!("unknown option `--{name}`"));
            };
            let val = if takes {
                match inline {
                    Some(v) => v,
                    None if i < args.len() => {
                        i += 1;
                        args[i - 1].clone()
                    }
                    None => return err(format!("option --{name} needs a value")),
                }
            } else {
                if inline.is_some() {
                    return err(format!("option --{name} takes no value"));
                }
                String::new()
            };
            match name {
                "alias" => o.aliases.push(val),
                "cfg-print" => o.cfg_print = true,
                "debug" => o.debug = Some(num("--debug", &val)?),
                "help" => help = true,
                "version" => version = true,
                "loadmodule" => o.loadmodules.push(val),
                "modparam" => {
                    if val.splitn(4, ':').count() != 4 {
                        return err(format!(
                            "--modparam expects mod:param:type:value, got `{val}`"
                        ));
                    }
                    o.modparams.push(val)
                }
                "server-id" => o.server_id = Some(num("--server-id", &val)?),
                "subst" => o.substs.push((SubstKind::Subst, val)),
                "substdef" => o.substs.push((SubstKind::Substdef, val)),
                "substdefs" => o.substs.push((SubstKind::Substdefs, val)),
                _ => o.ignored.push(format!("--{name}={val}")),
            }
            continue;
        }
        let Some(cluster) = a.strip_prefix('-').filter(|c| !c.is_empty()) else {
            return err(format!("unexpected argument `{a}`"));
        };
        let chars: Vec<char> = cluster.chars().collect();
        let mut k = 0;
        while k < chars.len() {
            let c = chars[k];
            k += 1;
            if SHORT_FLAGS.contains(&c) {
                match c {
                    'c' => o.check_only = true,
                    'd' => o.debug_incr += 1,
                    'D' => o.foreground += 1,
                    'e' => o.log_color = true,
                    'E' => o.log_stderr = true,
                    'h' => help = true,
                    'T' => o.disable_tcp = true,
                    'v' | 'V' => version = true,
                    _ => o.ignored.push(format!("-{c}")),
                }
                continue;
            }
            if !SHORT_WITH_VALUE.contains(&c) {
                return err(format!("unknown option `-{c}`"));
            }
            let val: String = if k < chars.len() {
                let v = chars[k..].iter().collect();
                k = chars.len();
                v
            } else if i < args.len() {
                i += 1;
                args[i - 1].clone()
            } else {
                return err(format!("option -{c} needs a value"));
            };
            let opt = format!("-{c}");
            match c {
                'f' => o.config = Some(PathBuf::from(val)),
                'A' => {
                    if val.is_empty() {
                        return err("option -A needs a NAME");
                    }
                    let (n, v) = match val.split_once('=') {
                        Some((n, v)) => (n.to_string(), Some(v.to_string())),
                        None => (val, None),
                    };
                    if n.is_empty() || !n.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
                    {
                        return err(format!("option -A: invalid define name `{n}`"));
                    }
                    o.defines.push((n, v));
                }
                'l' => o.listen.push(val),
                'n' => o.children = Some(num(&opt, &val)?),
                'N' => o.tcp_children = Some(num(&opt, &val)?),
                'm' => o.shm_mem_mb = Some(num(&opt, &val)?),
                'M' => o.pkg_mem_mb = Some(num(&opt, &val)?),
                'x' => o.shm_manager = Some(val),
                'X' => o.pkg_manager = Some(val),
                'L' => o.module_path = Some(val),
                'P' => o.pid_file = Some(PathBuf::from(val)),
                'w' => o.workdir = Some(PathBuf::from(val)),
                'u' => o.user = Some(val),
                'g' => o.group = Some(val),
                _ => o.ignored.push(format!("-{c} {val}")),
            }
        }
    }
    if help {
        return Ok(Cli::Help);
    }
    if version {
        return Ok(Cli::Version);
    }
    Ok(Cli::Run(o))
}

fn parse_ctl(args: &[String]) -> Result<Cli, CliError> {
    let mut socket = None;
    let mut config = None;
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "-f" => {
                let Some(v) = args.get(i + 1) else {
                    return err("ctl: option -f needs a config file");
                };
                config = Some(PathBuf::from(v));
                i += 2;
            }
            "-s" => {
                let Some(v) = args.get(i + 1) else {
                    return err("ctl: option -s needs an address");
                };
                socket = Some(v.clone());
                i += 2;
            }
            s if s.starts_with("-s") && s.len() > 2 => {
                socket = Some(s[2..].to_string());
                i += 1;
            }
            "-h" | "--help" => return Ok(Cli::Help),
            "--" => {
                i += 1;
                break;
            }
            s if s.starts_with('-')
                && s.len() > 1
                && !s[1..].starts_with(|c: char| c.is_ascii_digit()) =>
            {
                return err(format!("ctl: unknown option `{s}`"));
            }
            _ => break,
        }
    }
    let Some(method) = args.get(i) else {
        return err("ctl: missing METHOD (e.g. `siprd ctl core.version`)");
    };
    Ok(Cli::Ctl(CtlOpts {
        socket,
        config,
        method: method.clone(),
        params: args[i + 1..].to_vec(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> RunOpts {
        match parse(args.iter().copied()) {
            Ok(Cli::Run(o)) => o,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    #[test]
    fn kamailio_habits() {
        let o = run(&[
            "-f", "k.cfg", "-DD", "-E", "-e", "-M", "8", "-m", "64", "-x", "tlsf", "-n", "4",
        ]);
        assert_eq!(o.config, Some(PathBuf::from("k.cfg")));
        assert_eq!(o.foreground, 2);
        assert!(o.log_stderr && o.log_color);
        assert_eq!((o.pkg_mem_mb, o.shm_mem_mb), (Some(8), Some(64)));
        assert_eq!(o.shm_manager.as_deref(), Some("tlsf"));
        assert_eq!(o.children, Some(4));
        let o = run(&["-cf", "x.cfg"]);
        assert!(o.check_only);
        assert_eq!(o.config, Some(PathBuf::from("x.cfg")));
        let o = run(&[
            "-ffile.cfg",
            "-n4",
            "-DDD",
            "-ddd",
            "-L",
            "/usr/lib/kamailio/modules",
        ]);
        assert_eq!(o.config, Some(PathBuf::from("file.cfg")));
        assert_eq!(o.children, Some(4));
        assert_eq!(o.foreground, 3);
        assert_eq!(o.debug_level(), Some(3));
        let o = run(&[
            "-A",
            "WITH_AUTH",
            "-A",
            "PORT=5080",
            "-ADEFVAL=\"x y\"",
            "--debug=-1",
        ]);
        assert_eq!(
            o.defines,
            vec![
                ("WITH_AUTH".into(), None),
                ("PORT".into(), Some("5080".into())),
                ("DEFVAL".into(), Some("\"x y\"".into()))
            ]
        );
        assert_eq!(o.debug_level(), Some(-1));
        let o = run(&[
            "-l",
            "udp:127.0.0.1:5080",
            "-T",
            "--alias=example.com",
            "--modparam=sl:x:i:1",
            "-rR",
        ]);
        assert_eq!(o.listen, vec!["udp:127.0.0.1:5080".to_string()]);
        assert!(o.disable_tcp);
        assert_eq!(o.ignored, vec!["-r".to_string(), "-R".to_string()]);
        assert_eq!(run(&[]), RunOpts::default());
    }

    #[test]
    fn version_help() {
        assert_eq!(parse(["-V"]), Ok(Cli::Version));
        assert_eq!(parse(["-v"]), Ok(Cli::Version));
        assert_eq!(parse(["--version"]), Ok(Cli::Version));
        assert_eq!(parse(["-h"]), Ok(Cli::Help));
        assert_eq!(parse(["-f", "x", "--help"]), Ok(Cli::Help));
        assert!(help_text().contains("-f FILE"));
    }

    #[test]
    fn errors() {
        for (a, needle) in [
            (vec!["-q"], "unknown option `-q`"),
            (vec!["-f"], "-f needs a value"),
            (vec!["--nope"], "unknown option `--nope`"),
            (vec!["-M", "lots"], "expects a number"),
            (vec!["stray"], "unexpected argument `stray`"),
            (vec!["-A", "=x"], "invalid define"),
            (vec!["--cfg-print=1"], "takes no value"),
            (vec!["ctl"], "missing METHOD"),
            (vec!["ctl", "-z", "m"], "unknown option"),
        ] {
            let e = parse(a.clone()).expect_err(&format!("{a:?}"));
            assert!(e.message.contains(needle), "{a:?}: {}", e.message);
            assert!(e.to_string().contains("Usage: siprd"));
        }
    }

    #[test]
    fn ctl() {
        assert_eq!(
            parse(["ctl", "evrexec.run", "evrexec:test", "mydata"]),
            Ok(Cli::Ctl(CtlOpts {
                socket: None,
                config: None,
                method: "evrexec.run".into(),
                params: vec!["evrexec:test".into(), "mydata".into()]
            }))
        );
        assert_eq!(
            parse(["ctl", "-s", "udp:127.0.0.1:8033", "core.echo", "-5"]),
            Ok(Cli::Ctl(CtlOpts {
                socket: Some("udp:127.0.0.1:8033".into()),
                config: None,
                method: "core.echo".into(),
                params: vec!["-5".into()]
            }))
        );
        assert_eq!(
            parse(["ctl", "-f", "k.cfg", "core.version"]),
            Ok(Cli::Ctl(CtlOpts {
                socket: None,
                config: Some(PathBuf::from("k.cfg")),
                method: "core.version".into(),
                params: vec![]
            }))
        );
    }
}
