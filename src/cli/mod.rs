//! The command line: argv[0] dispatch, subcommands, exit codes (sysexits.h), one-line errors.

pub mod args;
mod collect;
mod config_show;
mod daemon;
mod deliver;
pub mod demo;
pub mod docs;
mod domain;
mod mailauth;
mod misc;
mod queue;
mod sendmail;
mod sieve;
mod user;

use std::ffi::OsString;
use std::path::Path;
use std::process::ExitCode;

use clap::Parser;

pub use args::Cli;
use args::Command;

/// sysexits.h codes used by postern.
pub mod exit {
    pub const USAGE: u8 = 64;
    pub const DATAERR: u8 = 65;
    pub const NOINPUT: u8 = 66;
    pub const NOUSER: u8 = 67;
    pub const UNAVAILABLE: u8 = 69;
    pub const SOFTWARE: u8 = 70;
    pub const OSERR: u8 = 71;
    pub const CANTCREAT: u8 = 73;
    pub const IOERR: u8 = 74;
    pub const TEMPFAIL: u8 = 75;
    pub const CONFIG: u8 = 78;
}

/// An error with the exit code it should give.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub error: anyhow::Error,
}

impl Failure {
    pub fn new(code: u8, error: impl Into<anyhow::Error>) -> Failure {
        Failure {
            code,
            error: error.into(),
        }
    }
}

impl<E: Into<anyhow::Error>> From<E> for Failure {
    fn from(e: E) -> Self {
        let error: anyhow::Error = e.into();
        let code = if error.downcast_ref::<crate::config::ConfigError>().is_some() {
            exit::CONFIG
        } else if error.downcast_ref::<std::io::Error>().is_some() {
            exit::IOERR
        } else {
            exit::SOFTWARE
        };
        Failure { code, error }
    }
}

pub type CliResult = Result<(), Failure>;

/// Rewrite argv for multi-call names: `postern-smtpd …` → `postern smtpd …`,
/// `sendmail …` → `postern sendmail …`, `mailq` → `postern sendmail -bp`, `newaliases` →
/// `postern sendmail -bi`.
pub fn dispatch_argv(mut argv: Vec<OsString>) -> Vec<OsString> {
    let name = argv
        .first()
        .and_then(|a| Path::new(a).file_name())
        .and_then(|n| n.to_str())
        .unwrap_or("postern")
        .to_string();
    let sub: Option<&[&str]> = match name.as_str() {
        "sendmail" => Some(&["sendmail"]),
        "mailq" => Some(&["sendmail", "-bp"]),
        "newaliases" => Some(&["sendmail", "-bi"]),
        n => n.strip_prefix("postern-").map(|_| &[][..]),
    };
    let Some(sub) = sub else {
        return argv;
    };
    if let Some(first) = argv.first_mut() {
        *first = OsString::from("postern");
    }
    let words: Vec<OsString> = if sub.is_empty() {
        name.strip_prefix("postern-")
            .map(|s| vec![OsString::from(s)])
            .unwrap_or_default()
    } else {
        sub.iter().map(OsString::from).collect()
    };
    argv.splice(1..1, words);
    argv
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let argv = dispatch_argv(std::env::args_os().collect());
    let cli = match Cli::try_parse_from(argv) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { exit::USAGE } else { 0 });
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            let msg = one_sentence(&f.error);
            if is_broken_pipe(&f.error) {
                return ExitCode::SUCCESS;
            }
            if crate::events::stderr_is_connection() {
                // inetd: stderr is the client; the error goes to the log target only.
                crate::events::event("error").field("error", msg).emit();
            } else {
                eprintln!("postern: {msg}");
            }
            ExitCode::from(f.code)
        }
    }
}

/// The error and its causes, `: `-joined, each cause once: typed errors already name their
/// source in their message, so a cause the text so far holds is not repeated.
fn one_sentence(e: &anyhow::Error) -> String {
    let mut msg = e.to_string();
    for cause in e.chain().skip(1) {
        let text = cause.to_string();
        if !msg.contains(&text) {
            msg.push_str(": ");
            msg.push_str(&text);
        }
    }
    msg
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn run(cli: Cli) -> CliResult {
    let config_flag = cli.config.as_deref();
    match cli.command {
        Command::Serve(a) => daemon::serve(config_flag, a),
        Command::Smtpd(a) => daemon::daemon(config_flag, crate::config::Protocol::Smtp, a),
        Command::Popd(a) => daemon::daemon(config_flag, crate::config::Protocol::Pop3, a),
        Command::Imapd(a) => daemon::daemon(config_flag, crate::config::Protocol::Imap, a),
        Command::Deliver(a) => deliver::deliver(config_flag, a),
        Command::Collect(a) => collect::collect(config_flag, a),
        Command::Queue(q) => deliver::queue(config_flag, q),
        Command::Mbox(m) => misc::mbox(config_flag, m),
        Command::User(u) => user::user(config_flag, u),
        Command::Cert(c) => misc::cert(config_flag, c),
        Command::Config(c) => misc::config(config_flag, c),
        Command::Sendmail(s) => sendmail::sendmail(config_flag, s),
        Command::Domain(d) => domain::domain(config_flag, d),
        Command::Dkim(d) => mailauth::dkim(config_flag, d),
        Command::Dns(d) => mailauth::dns(config_flag, d),
        Command::Sieve(s) => sieve::sieve(config_flag, s),
    }
}

/// Load the configuration named by the flag / environment / default.
pub fn load_config(flag: Option<&Path>) -> Result<crate::config::Config, Failure> {
    let path = crate::config::resolve_path(flag);
    let config = crate::config::load(&path).map_err(|e| {
        let code = match &e {
            crate::config::ConfigError::Read { .. } => exit::NOINPUT,
            crate::config::ConfigError::Invalid { .. } => exit::CONFIG,
        };
        Failure::new(code, e)
    })?;
    crate::events::configure(&config.log);
    crate::queue::spool::id::set_node(config.cluster.node);
    Ok(config)
}

/// The process's one tokio runtime. Every command that talks to the network makes it first:
/// the daemons run on it, and the delivering threads (queue runs, immediate attempts) enter it
/// with `block_on` for the SMTP client and the resolver.
pub fn process_runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(256)
        .build()
        .map_err(|e| Failure::new(exit::OSERR, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn error_sentences_name_each_cause_once() {
        let read = crate::config::ConfigError::Read {
            path: "/etc/postern/postern.toml".into(),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        };
        let e = anyhow::Error::new(read);
        assert_eq!(
            one_sentence(&e),
            "cannot read config /etc/postern/postern.toml: entity not found"
        );
        let e = anyhow::anyhow!("disk on fire").context("cannot queue the message");
        assert_eq!(one_sentence(&e), "cannot queue the message: disk on fire");
    }

    #[test]
    fn multi_call_names() {
        assert_eq!(
            dispatch_argv(argv(&["/usr/sbin/postern-smtpd", "--inetd"])),
            argv(&["postern", "smtpd", "--inetd"])
        );
        assert_eq!(
            dispatch_argv(argv(&["/usr/sbin/sendmail", "-oi", "-t"])),
            argv(&["postern", "sendmail", "-oi", "-t"])
        );
        assert_eq!(
            dispatch_argv(argv(&["/usr/bin/mailq"])),
            argv(&["postern", "sendmail", "-bp"])
        );
        assert_eq!(
            dispatch_argv(argv(&["newaliases"])),
            argv(&["postern", "sendmail", "-bi"])
        );
        // Every option reaches the sendmail parser as it was given.
        let cli = Cli::try_parse_from(dispatch_argv(argv(&[
            "sendmail",
            "-i",
            "-FCronDaemon",
            "-B8BITMIME",
            "-oem",
            "root",
        ])))
        .unwrap_or_else(|e| panic!("{e}"));
        let Command::Sendmail(s) = cli.command else {
            panic!("not sendmail")
        };
        assert_eq!(s.args, ["-i", "-FCronDaemon", "-B8BITMIME", "-oem", "root"]);
        assert_eq!(
            dispatch_argv(argv(&["postern", "queue", "ls"])),
            argv(&["postern", "queue", "ls"])
        );
    }

    #[test]
    fn the_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
