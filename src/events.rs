//! Registered events: one structured log line per event (logfmt or JSON) on the log target.
//!
//! `event("message_received").field("id", id).field("size", n).emit()` writes
//! `ts=2026-11-24T06:00:00Z event=message_received id=… size=…` (or one JSON object per line)
//! to the target chosen by `[log] target` ([`configure`]): stderr, the local syslog socket, the
//! journal (its native protocol) or a file (opened again by [`reopen`], at SIGHUP). When stderr
//! is the connection itself (inetd puts the socket on 0, 1 and 2), nothing is ever written to
//! it: the lines go to syslog instead, or nowhere when there is no syslog.

use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::RwLock;

use crate::config::{Log, LogFormat, LogTarget};

mod target;
pub use target::{reopen, stderr_is_connection};

static JSON: AtomicBool = AtomicBool::new(false);

/// Where event lines go instead of stderr: a command drawing on the terminal (`collect`'s
/// progress bars) passes them through its display, so a line never lands inside a bar.
pub type Sink = Box<dyn Fn(&str) + Send + Sync>;
static SINK: RwLock<Option<Sink>> = RwLock::new(None);
static SINK_SET: AtomicBool = AtomicBool::new(false);

/// Send this process's event lines (each with its newline) to `sink`, or to stderr again.
pub fn set_sink(sink: Option<Sink>) {
    let set = sink.is_some();
    if let Ok(mut guard) = SINK.write() {
        *guard = sink;
        SINK_SET.store(set, Ordering::Release);
    }
}

/// Choose the output format for this process.
pub fn set_format(format: LogFormat) {
    JSON.store(format == LogFormat::Json, Ordering::Relaxed);
}

/// Choose the format and the target of this process's events (`[log]`). A target that cannot be
/// opened (the journal's socket missing, a file not writable) falls back to syslog, else stderr
/// (never the connection), and `log_target_failed` says so there.
pub fn configure(log: &Log) {
    set_format(log.format);
    if let Err(e) = target::open(log) {
        let target = match log.target {
            LogTarget::Stderr => "stderr",
            LogTarget::Syslog => "syslog",
            LogTarget::Journald => "journald",
            LogTarget::File => "file",
        };
        event("log_target_failed")
            .field("target", target)
            .field("error", e)
            .emit();
    }
}

/// An event being built.
pub struct Event {
    fields: Vec<(&'static str, String)>,
}

/// Start an event called `name`.
pub fn event(name: &'static str) -> Event {
    let ts = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    Event {
        fields: vec![("ts", ts), ("event", name.to_string())],
    }
}

impl Event {
    /// Add a field.
    pub fn field(mut self, key: &'static str, value: impl std::fmt::Display) -> Event {
        self.fields.push((key, value.to_string()));
        self
    }

    /// Add a field when there is a value.
    pub fn opt(self, key: &'static str, value: Option<impl std::fmt::Display>) -> Event {
        match value {
            Some(v) => self.field(key, v),
            None => self,
        }
    }

    /// Render the line (without newline).
    pub fn render(&self, json: bool) -> String {
        if json {
            let map: serde_json::Map<String, serde_json::Value> = self
                .fields
                .iter()
                .map(|(k, v)| (k.to_string(), serde_json::Value::String(v.clone())))
                .collect();
            serde_json::Value::Object(map).to_string()
        } else {
            let mut line = String::new();
            for (i, (k, v)) in self.fields.iter().enumerate() {
                if i > 0 {
                    line.push(' ');
                }
                let _ = write!(line, "{k}={}", logfmt_value(v));
            }
            line
        }
    }

    /// Write the line to stderr (or the sink set by [`set_sink`]).
    pub fn emit(self) {
        let mut line = self.render(JSON.load(Ordering::Relaxed));
        line.push('\n');
        if SINK_SET.load(Ordering::Acquire) {
            if let Ok(guard) = SINK.read() {
                if let Some(sink) = guard.as_ref() {
                    sink(&line);
                    return;
                }
            }
        }
        if !target::write(&self, &line) {
            let _ = std::io::stderr().lock().write_all(line.as_bytes());
        }
    }

    /// The event's name.
    pub fn name(&self) -> &str {
        self.fields.get(1).map_or("", |(_, v)| v.as_str())
    }

    /// The fields after `ts` and `event`.
    pub fn fields(&self) -> impl Iterator<Item = (&'static str, &str)> {
        self.fields.iter().skip(2).map(|(k, v)| (*k, v.as_str()))
    }
}

fn logfmt_value(v: &str) -> String {
    let plain = !v.is_empty()
        && v.chars()
            .all(|c| c.is_ascii_graphic() && c != '"' && c != '=' && c != '\\');
    if plain {
        v.to_string()
    } else {
        let mut s = String::with_capacity(v.len() + 2);
        s.push('"');
        for c in v.chars() {
            match c {
                '"' => s.push_str("\\\""),
                '\\' => s.push_str("\\\\"),
                '\n' => s.push_str("\\n"),
                '\r' => s.push_str("\\r"),
                c if c.is_control() => {
                    let _ = write!(s, "\\u{{{:x}}}", c as u32);
                }
                c => s.push(c),
            }
        }
        s.push('"');
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logfmt_and_json() {
        let e = event("client_connect")
            .field("peer", "127.0.0.1:4000")
            .field("helo", "a \"b\"\r\n")
            .opt("user", None::<&str>);
        let line = e.render(false);
        assert!(
            line.contains(" event=client_connect peer=127.0.0.1:4000 helo=\"a \\\"b\\\"\\r\\n\""),
            "{line}"
        );
        let json: serde_json::Value = serde_json::from_str(&e.render(true)).expect("json");
        assert_eq!(json["event"], "client_connect");
        assert_eq!(json["helo"], "a \"b\"\r\n");
    }
}
