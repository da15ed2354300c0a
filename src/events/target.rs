//! Where the event lines go: stderr, the local syslog socket (the `syslog` crate's RFC 3164
//! client), the journal's native protocol, or a file opened again at SIGHUP.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock, PoisonError};

use super::Event;
use crate::config::{Log, LogTarget};

type SyslogLogger = syslog::Logger<syslog::LoggerBackend, syslog::Formatter3164>;

enum Output {
    Stderr,
    /// Stderr is the connection and there is no syslog: the lines are dropped.
    Nowhere,
    /// With the settings to connect again (after syslogd restarted).
    Syslog(SyslogLogger, Box<Log>),
    Journal {
        socket: UnixDatagram,
        path: PathBuf,
        facility: u32,
    },
    File {
        file: File,
        path: PathBuf,
    },
}

/// The process's target; `None` until [`open`]: stderr (unless it is the connection).
static OUTPUT: Mutex<Option<Output>> = Mutex::new(None);

/// Whether standard error is the same socket as standard input or output: a daemon started by
/// inetd, whose log lines would reach the client.
pub fn stderr_is_connection() -> bool {
    static ANSWER: OnceLock<bool> = OnceLock::new();
    *ANSWER.get_or_init(|| {
        let id = |fd: u8| std::fs::read_link(format!("/proc/self/fd/{fd}")).ok();
        match id(2) {
            Some(err) if err.to_string_lossy().starts_with("socket:") => {
                id(0).as_ref() == Some(&err) || id(1).as_ref() == Some(&err)
            }
            _ => false,
        }
    })
}

fn facility(log: &Log) -> syslog::Facility {
    log.facility.parse().unwrap_or(syslog::Facility::LOG_MAIL)
}

fn syslog_logger(log: &Log) -> Result<SyslogLogger, String> {
    let formatter = syslog::Formatter3164 {
        facility: facility(log),
        hostname: None,
        process: "postern".to_string(),
        pid: std::process::id(),
    };
    syslog::unix_custom(formatter, &log.syslog_socket)
        .map_err(|e| format!("{}: {e}", log.syslog_socket.display()))
}

fn open_file(path: &Path) -> Result<File, String> {
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o640)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// Open the target `log` names. On an error the target stays stderr (or nowhere, when stderr is
/// the connection).
pub(super) fn open(log: &Log) -> Result<(), String> {
    let on_socket = stderr_is_connection();
    let (output, result) = match log.target {
        LogTarget::Stderr if !on_socket => (Output::Stderr, Ok(())),
        // inetd: syslog if there is one, else nothing (never the client).
        LogTarget::Stderr => match syslog_logger(log) {
            Ok(l) => (Output::Syslog(l, Box::new(log.clone())), Ok(())),
            Err(_) => (Output::Nowhere, Ok(())),
        },
        LogTarget::Syslog => match syslog_logger(log) {
            Ok(l) => (Output::Syslog(l, Box::new(log.clone())), Ok(())),
            Err(e) => (stderr_or_nowhere(on_socket), Err(e)),
        },
        LogTarget::Journald if !log.journal_socket.exists() => (
            fallback(log, on_socket),
            Err(format!("{}: no such socket", log.journal_socket.display())),
        ),
        LogTarget::Journald => match UnixDatagram::unbound() {
            Ok(socket) => (
                Output::Journal {
                    socket,
                    path: log.journal_socket.clone(),
                    facility: (facility(log) as u32) >> 3,
                },
                Ok(()),
            ),
            Err(e) => (fallback(log, on_socket), Err(e.to_string())),
        },
        LogTarget::File => match log.file.as_deref().map(open_file) {
            Some(Ok(file)) => (
                Output::File {
                    file,
                    path: log.file.clone().unwrap_or_default(),
                },
                Ok(()),
            ),
            Some(Err(e)) => (fallback(log, on_socket), Err(e)),
            None => (fallback(log, on_socket), Err("no log.file".to_string())),
        },
    };
    *OUTPUT.lock().unwrap_or_else(PoisonError::into_inner) = Some(output);
    result
}

/// Where lines go when the target cannot be opened (the journal's socket missing, a log file
/// a user's `sendmail` may not write): syslog when there is one, so that a command run by cron
/// prints nothing; else stderr (never the connection).
fn fallback(log: &Log, on_socket: bool) -> Output {
    match syslog_logger(log) {
        Ok(l) => Output::Syslog(l, Box::new(log.clone())),
        Err(_) => stderr_or_nowhere(on_socket),
    }
}

fn stderr_or_nowhere(on_socket: bool) -> Output {
    if on_socket {
        Output::Nowhere
    } else {
        Output::Stderr
    }
}

/// Open the log file again (after logrotate moved it; at SIGHUP). Other targets: nothing to do.
pub fn reopen() -> Result<(), String> {
    let mut guard = OUTPUT.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(Output::File { file, path }) = guard.as_mut() {
        *file = open_file(path)?;
    }
    Ok(())
}

/// Write `line` (with its newline) to the target; `false`: the caller writes it to stderr.
pub(super) fn write(event: &Event, line: &str) -> bool {
    let mut guard = OUTPUT.lock().unwrap_or_else(PoisonError::into_inner);
    match guard.as_mut() {
        None | Some(Output::Stderr) => stderr_is_connection(),
        Some(Output::Nowhere) => true,
        Some(Output::Syslog(logger, log)) => {
            let text = line.trim_end_matches('\n');
            if logger.info(text).is_err() {
                // syslogd restarted: connect again, and try once more.
                if let Ok(again) = syslog_logger(log) {
                    *logger = again;
                    let _ = logger.info(text);
                }
            }
            true
        }
        Some(Output::Journal {
            socket,
            path,
            facility,
        }) => {
            let _ = socket.send_to(&journal_entry(event, line, *facility), path);
            true
        }
        Some(Output::File { file, .. }) => {
            let _ = file.write_all(line.as_bytes());
            true
        }
    }
}

/// One entry of the journal's native protocol: `KEY=value` lines, a value with a newline in the
/// binary form (`KEY`, newline, its length as 64-bit little-endian, the bytes, newline). The
/// event's fields are `POSTERN_KEY` fields beside `MESSAGE` (the whole line).
fn journal_entry(event: &Event, line: &str, facility: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(line.len() * 2 + 128);
    let mut field = |key: &str, value: &str| {
        out.extend_from_slice(key.as_bytes());
        if value.contains('\n') {
            out.push(b'\n');
            out.extend_from_slice(&(value.len() as u64).to_le_bytes());
            out.extend_from_slice(value.as_bytes());
        } else {
            out.push(b'=');
            out.extend_from_slice(value.as_bytes());
        }
        out.push(b'\n');
    };
    field("MESSAGE", line.trim_end_matches('\n'));
    field("PRIORITY", "6");
    field("SYSLOG_FACILITY", &facility.to_string());
    field("SYSLOG_IDENTIFIER", "postern");
    field("SYSLOG_PID", &std::process::id().to_string());
    field("POSTERN_EVENT", event.name());
    for (k, v) in event.fields() {
        let key: String = k
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_uppercase()
                } else {
                    '_'
                }
            })
            .collect();
        field(&format!("POSTERN_{key}"), v);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_entries_are_binary_safe() {
        let e = super::super::event("delivered")
            .field("to", "demo")
            .field("orig_to", "a\nb");
        let entry = journal_entry(&e, "line\n", 2);
        let text = String::from_utf8_lossy(&entry);
        assert!(text.starts_with("MESSAGE=line\nPRIORITY=6\nSYSLOG_FACILITY=2\n"));
        assert!(text.contains("POSTERN_EVENT=delivered\nPOSTERN_TO=demo\n"));
        let mut binary = b"POSTERN_ORIG_TO\n".to_vec();
        binary.extend_from_slice(&3u64.to_le_bytes());
        binary.extend_from_slice(b"a\nb\n");
        assert!(entry.ends_with(&binary));
    }
}
