//! The content filter (`[filter]`, SPEC §1 "Scanning plugins"): a command run on each accepted
//! message before it is queued — by the [`crate::intake`], for smtpd, sendmail and collect alike.
//!
//! The message goes to the command's standard input (a filter may stop reading early); its exit
//! status is the verdict: 0 accepts, a code in `reject_codes` rejects with `reject_reply`, anything
//! else — another code, a signal, the timeout, a command that cannot start — is a temporary
//! failure (451 4.7.1). The command runs in a process group of its own, killed whole on timeout.
//! Its output is read up to a limit (the first line goes to the log) and the rest discarded. The
//! verdict is logged as a `filter` event. The envelope is in the environment: `POSTERN_SENDER`,
//! `POSTERN_RECIPIENTS` (comma-separated), `POSTERN_CLIENT`, `POSTERN_ORIGIN`.
//!
//! With `modify = true` the standard output of a filter that accepts is the message to keep
//! (SpamAssassin's `spamc`, a disclaimer script): read up to the message size limit, its line
//! ends made CRLF, and refused for now (451 4.7.1, the original kept nowhere) when it is empty,
//! too big, holds a NUL or does not start with a header section ([`modified`]). Standard error
//! goes to the log.

use std::net::IpAddr;
use std::process::{ExitStatus, Stdio};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};

use crate::config::filter::Filter;
use crate::config::rules::parse_reply;
use crate::events::event;
use crate::proto::mail::Reply;

/// Output kept from the filter (stdout and stderr each); the rest is read and dropped.
const OUTPUT_LIMIT: usize = 4096;

/// What the filter decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Accept,
    /// Accept the filter's version of the message (`modify = true`).
    Replace(Vec<u8>),
    /// Refuse the message for good (the configured reply).
    Reject(Reply),
    /// Refuse it for now (451 4.7.1).
    TempFail(Reply),
}

impl Verdict {
    /// The refusal, if the message is not to be queued.
    pub fn refusal(self) -> Option<Reply> {
        match self {
            Verdict::Accept | Verdict::Replace(_) => None,
            Verdict::Reject(r) | Verdict::TempFail(r) => Some(r),
        }
    }
}

/// The envelope of the message being filtered.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    pub sender: &'a str,
    pub recipients: &'a [String],
    pub client: Option<IpAddr>,
    /// `smtp`, `sendmail` or `collect`.
    pub origin: &'a str,
}

/// How the command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Exited(ExitStatus),
    TimedOut,
    NotStarted(String),
}

/// The verdict for an outcome (pure).
pub fn judge(cfg: &Filter, outcome: &Outcome) -> Verdict {
    let temp = |why: String| Verdict::TempFail(Reply::new(451, "4.7.1", why));
    match outcome {
        Outcome::Exited(s) if s.success() => Verdict::Accept,
        Outcome::Exited(s) => match s.code() {
            Some(c) if cfg.reject_codes.contains(&c) => Verdict::Reject(reject_reply(cfg)),
            Some(c) => temp(format!("Content filter failed (exit {c}); try again later")),
            None => temp("Content filter was killed; try again later".into()),
        },
        Outcome::TimedOut => temp("Content filter timed out; try again later".into()),
        Outcome::NotStarted(_) => temp("Content filter unavailable; try again later".into()),
    }
}

fn reject_reply(cfg: &Filter) -> Reply {
    match parse_reply(&cfg.reject_reply) {
        Some((code, enhanced, text)) => Reply::new(code, &enhanced, text),
        None => Reply::new(554, "5.7.1", "Message rejected by content filter"),
    }
}

/// The filter's output as the message to keep: CRLF line ends, at most `max` octets, no NUL,
/// a header section first (field lines and their continuations up to the blank line).
pub fn modified(output: &[u8], max: usize) -> Result<Vec<u8>, &'static str> {
    if output.is_empty() {
        return Err("the filter printed no message");
    }
    if output.contains(&0) {
        return Err("the filter's message holds a NUL");
    }
    let mut message = Vec::with_capacity(output.len() + output.len() / 32);
    let mut lines = output.split(|&b| b == b'\n').peekable();
    while let Some(line) = lines.next() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.contains(&b'\r') {
            message.extend(line.iter().map(|&b| if b == b'\r' { b' ' } else { b }));
        } else {
            message.extend_from_slice(line);
        }
        if lines.peek().is_some() {
            message.extend_from_slice(b"\r\n");
        }
        if message.len() > max {
            return Err("the filter's message is over the size limit");
        }
    }
    let head_end = message
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(message.len());
    let head = message.get(..head_end).unwrap_or_default();
    let field = |l: &[u8]| {
        let name_len = l.iter().position(|&b| b == b':').unwrap_or(0);
        name_len > 0
            && l.get(..name_len)
                .is_some_and(|n| n.iter().all(|&b| (33..=126).contains(&b)))
    };
    let mut head_lines = head
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let first_ok = head_lines.next().is_some_and(field);
    let rest_ok = head_lines.all(|l| field(l) || l.starts_with(b" ") || l.starts_with(b"\t"));
    if !(first_ok && rest_ok) {
        return Err("the filter's message does not start with header fields");
    }
    Ok(message)
}

/// Run the filter on `message` and log its verdict; `max` is the largest message the filter
/// may give back (`modify = true`).
pub async fn run(cfg: &Filter, message: &[u8], input: Input<'_>, max: usize) -> Verdict {
    let started = std::time::Instant::now();
    let keep = if cfg.modify {
        max.saturating_add(1)
    } else {
        OUTPUT_LIMIT
    };
    let (outcome, stdout, stderr) = execute(cfg, message, input, keep).await;
    let mut verdict = judge(cfg, &outcome);
    let mut problem = None;
    if cfg.modify && verdict == Verdict::Accept {
        verdict = match modified(&stdout, max) {
            Ok(m) => Verdict::Replace(m),
            Err(why) => {
                problem = Some(why);
                Verdict::TempFail(Reply::new(
                    451,
                    "4.7.1",
                    "Content filter gave back no usable message; try again later",
                ))
            }
        };
    }
    let output = if cfg.modify {
        stderr
    } else {
        [stdout, stderr].concat()
    };
    let first_line = String::from_utf8_lossy(&output)
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
        .chars()
        .take(200)
        .collect::<String>();
    let exit = match &outcome {
        Outcome::Exited(s) => match s.code() {
            Some(c) => c.to_string(),
            None => "signal".into(),
        },
        Outcome::TimedOut => "timeout".into(),
        Outcome::NotStarted(why) => format!("not started: {why}"),
    };
    event("filter")
        .field(
            "verdict",
            match verdict {
                Verdict::Accept => "accept",
                Verdict::Replace(_) => "modify",
                Verdict::Reject(_) => "reject",
                Verdict::TempFail(_) => "tempfail",
            },
        )
        .field("exit", exit)
        .field("origin", input.origin)
        .field("from", input.sender)
        .field("to", input.recipients.join(","))
        .opt("client", input.client)
        .field("ms", started.elapsed().as_millis())
        .opt("output", (!first_line.is_empty()).then_some(first_line))
        .opt("problem", problem)
        .emit();
    verdict
}

/// Run the command; its outcome, standard output (the first `keep` octets) and standard error
/// (the first [`OUTPUT_LIMIT`]).
async fn execute(
    cfg: &Filter,
    message: &[u8],
    input: Input<'_>,
    keep: usize,
) -> (Outcome, Vec<u8>, Vec<u8>) {
    let argv = cfg.argv();
    let Some((program, args)) = argv.split_first() else {
        return (
            Outcome::NotStarted("no command".into()),
            Vec::new(),
            Vec::new(),
        );
    };
    let mut cmd = Command::new(program);
    cmd.args(args)
        .env("POSTERN_SENDER", input.sender)
        .env("POSTERN_RECIPIENTS", input.recipients.join(","))
        .env(
            "POSTERN_CLIENT",
            input.client.map(|c| c.to_string()).unwrap_or_default(),
        )
        .env("POSTERN_ORIGIN", input.origin)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            let why = format!("{program}: {e}");
            return (Outcome::NotStarted(why), Vec::new(), Vec::new());
        }
    };
    let pid = child.id();
    let run = exchange(&mut child, message, keep);
    match tokio::time::timeout(cfg.timeout.duration(), run).await {
        Ok(Ok((status, out, err))) => (Outcome::Exited(status), out, err),
        Ok(Err(e)) => {
            kill_group(pid);
            let _ = child.wait().await;
            (Outcome::NotStarted(e.to_string()), Vec::new(), Vec::new())
        }
        Err(_) => {
            kill_group(pid);
            let _ = child.wait().await;
            (Outcome::TimedOut, Vec::new(), Vec::new())
        }
    }
}

/// Feed the message, read the output (bounded), wait for the exit.
async fn exchange(
    child: &mut Child,
    message: &[u8],
    keep: usize,
) -> std::io::Result<(ExitStatus, Vec<u8>, Vec<u8>)> {
    let stdin = child.stdin.take();
    let write = async move {
        if let Some(mut w) = stdin {
            // A filter may decide without reading everything: a broken pipe is not an error.
            let _ = w.write_all(message).await;
            let _ = w.shutdown().await;
        }
    };
    let (_, out, err) = tokio::join!(
        write,
        read_bounded(child.stdout.take(), keep),
        read_bounded(child.stderr.take(), OUTPUT_LIMIT)
    );
    let status = child.wait().await?;
    Ok((status, out, err))
}

/// Read `r` to its end, keeping the first `limit` bytes.
async fn read_bounded(r: Option<impl AsyncRead + Unpin>, limit: usize) -> Vec<u8> {
    let mut kept = Vec::new();
    let Some(mut r) = r else { return kept };
    let mut buf = [0u8; 4096];
    while let Ok(n) = r.read(&mut buf).await {
        if n == 0 {
            break;
        }
        let room = limit.saturating_sub(kept.len());
        kept.extend_from_slice(buf.get(..n.min(room)).unwrap_or_default());
    }
    kept
}

fn kill_group(pid: Option<u32>) {
    if let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) {
        // SAFETY: kill has no memory preconditions; a negative pid names the process group
        // the child leads (process_group(0)).
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::filter::FilterCommand;
    use crate::config::Seconds;

    fn cfg(cmd: &str) -> Filter {
        Filter {
            command: FilterCommand::Shell(cmd.into()),
            timeout: Seconds(5),
            reject_codes: vec![1],
            reject_reply: "554 5.7.1 Virus found".into(),
            modify: false,
        }
    }

    fn input() -> Input<'static> {
        Input {
            sender: "a@b.test",
            recipients: &[],
            client: None,
            origin: "test",
        }
    }

    #[test]
    fn verdicts_by_exit_code() {
        let c = cfg("");
        let exited = |code: i32| {
            use std::os::unix::process::ExitStatusExt;
            Outcome::Exited(ExitStatus::from_raw(code << 8))
        };
        assert_eq!(judge(&c, &exited(0)), Verdict::Accept);
        assert!(matches!(judge(&c, &exited(1)), Verdict::Reject(r) if r.code == 554));
        assert!(matches!(judge(&c, &exited(2)), Verdict::TempFail(r) if r.code == 451));
        assert!(matches!(
            judge(&c, &Outcome::TimedOut),
            Verdict::TempFail(_)
        ));
        let missing = Outcome::NotStarted("x".into());
        assert!(matches!(judge(&c, &missing), Verdict::TempFail(_)));
    }

    #[tokio::test]
    async fn runs_real_commands() {
        let msg = b"Subject: hi\r\n\r\nEICAR\r\n".repeat(20_000);
        assert_eq!(
            run(&cfg("cat >/dev/null"), &msg, input(), 1 << 20).await,
            Verdict::Accept
        );
        assert_eq!(
            run(&cfg("head -c 10 >/dev/null"), &msg, input(), 1 << 20).await,
            Verdict::Accept
        );
        let grep = cfg("! grep -q EICAR");
        assert!(matches!(
            run(&grep, &msg, input(), 1 << 20).await,
            Verdict::Reject(_)
        ));
        let reply = run(&grep, &msg, input(), 1 << 20)
            .await
            .refusal()
            .map(|r| r.to_bytes());
        assert_eq!(reply.as_deref(), Some(&b"554 5.7.1 Virus found\r\n"[..]));
        assert!(matches!(
            run(&cfg("exit 3"), &msg, input(), 1 << 20).await,
            Verdict::TempFail(_)
        ));
        let mut hang = cfg("sleep 30");
        hang.timeout = Seconds(1);
        assert!(
            matches!(run(&hang, &msg, input(), 1 << 20).await, Verdict::TempFail(r)
            if r.lines[0].contains("timed out"))
        );
        let none = Filter {
            command: FilterCommand::Argv(vec!["/nonexistent/filter".into()]),
            ..cfg("")
        };
        assert!(matches!(
            run(&none, &msg, input(), 1 << 20).await,
            Verdict::TempFail(_)
        ));
    }

    #[test]
    fn a_modified_message_is_checked_and_made_crlf() {
        let ok = modified(b"X-Spam: yes\nSubject: a\n  folded\n\nbody\nline\n", 1000);
        assert_eq!(
            ok.as_deref(),
            Ok(&b"X-Spam: yes\r\nSubject: a\r\n  folded\r\n\r\nbody\r\nline\r\n"[..])
        );
        // A bare CR inside a line is no line end on the way out.
        assert_eq!(
            modified(b"A: b\r\n\r\nx\ry\r\n", 100).as_deref(),
            Ok(&b"A: b\r\n\r\nx y\r\n"[..])
        );
        for bad in [
            &b""[..],
            b"no header here\r\n\r\nbody",
            b"\r\nbody only",
            b"A: b\r\nnot a field\r\n\r\nbody",
            b"A: b\r\n\r\nnul \0 here",
        ] {
            assert!(modified(bad, 1000).is_err(), "{bad:?}");
        }
        assert!(modified(b"A: b\r\n\r\n0123456789", 12).is_err());
    }

    #[tokio::test]
    async fn a_modifying_filter_gives_back_the_message() {
        let mut add = cfg("printf 'X-Scanned: yes\\n'; cat");
        add.modify = true;
        let msg = b"Subject: hi\r\n\r\nbody\r\n";
        assert_eq!(
            run(&add, msg, input(), 1 << 20).await,
            Verdict::Replace(b"X-Scanned: yes\r\nSubject: hi\r\n\r\nbody\r\n".to_vec())
        );
        // Too big for the limit, or not a message: tempfail, nothing kept.
        assert!(matches!(
            run(&add, msg, input(), 10).await,
            Verdict::TempFail(_)
        ));
        let mut junk = cfg("echo garbage");
        junk.modify = true;
        assert!(matches!(
            run(&junk, msg, input(), 1 << 20).await,
            Verdict::TempFail(_)
        ));
        // A refusal is a refusal, whatever it prints.
        let mut refuse = cfg("cat; exit 1");
        refuse.modify = true;
        assert!(matches!(
            run(&refuse, msg, input(), 1 << 20).await,
            Verdict::Reject(_)
        ));
    }
}
