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
    /// Refuse the message for good (the configured reply).
    Reject(Reply),
    /// Refuse it for now (451 4.7.1).
    TempFail(Reply),
}

impl Verdict {
    /// The refusal, if the message is not to be queued.
    pub fn refusal(self) -> Option<Reply> {
        match self {
            Verdict::Accept => None,
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

/// Run the filter on `message` and log its verdict.
pub async fn run(cfg: &Filter, message: &[u8], input: Input<'_>) -> Verdict {
    let started = std::time::Instant::now();
    let (outcome, output) = execute(cfg, message, input).await;
    let verdict = judge(cfg, &outcome);
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
        .emit();
    verdict
}

async fn execute(cfg: &Filter, message: &[u8], input: Input<'_>) -> (Outcome, Vec<u8>) {
    let argv = cfg.argv();
    let Some((program, args)) = argv.split_first() else {
        return (Outcome::NotStarted("no command".into()), Vec::new());
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
        Err(e) => return (Outcome::NotStarted(format!("{program}: {e}")), Vec::new()),
    };
    let pid = child.id();
    match tokio::time::timeout(cfg.timeout.duration(), exchange(&mut child, message)).await {
        Ok(Ok((status, out))) => (Outcome::Exited(status), out),
        Ok(Err(e)) => {
            kill_group(pid);
            let _ = child.wait().await;
            (Outcome::NotStarted(e.to_string()), Vec::new())
        }
        Err(_) => {
            kill_group(pid);
            let _ = child.wait().await;
            (Outcome::TimedOut, Vec::new())
        }
    }
}

/// Feed the message, read the output (bounded), wait for the exit.
async fn exchange(child: &mut Child, message: &[u8]) -> std::io::Result<(ExitStatus, Vec<u8>)> {
    let stdin = child.stdin.take();
    let write = async move {
        if let Some(mut w) = stdin {
            // A filter may decide without reading everything: a broken pipe is not an error.
            let _ = w.write_all(message).await;
            let _ = w.shutdown().await;
        }
    };
    let (_, mut out, err) = tokio::join!(
        write,
        read_bounded(child.stdout.take()),
        read_bounded(child.stderr.take())
    );
    let status = child.wait().await?;
    out.extend_from_slice(&err);
    Ok((status, out))
}

/// Read `r` to its end, keeping the first [`OUTPUT_LIMIT`] bytes.
async fn read_bounded(r: Option<impl AsyncRead + Unpin>) -> Vec<u8> {
    let mut kept = Vec::new();
    let Some(mut r) = r else { return kept };
    let mut buf = [0u8; 4096];
    while let Ok(n) = r.read(&mut buf).await {
        if n == 0 {
            break;
        }
        let room = OUTPUT_LIMIT.saturating_sub(kept.len());
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
            run(&cfg("cat >/dev/null"), &msg, input()).await,
            Verdict::Accept
        );
        assert_eq!(
            run(&cfg("head -c 10 >/dev/null"), &msg, input()).await,
            Verdict::Accept
        );
        let grep = cfg("! grep -q EICAR");
        assert!(matches!(
            run(&grep, &msg, input()).await,
            Verdict::Reject(_)
        ));
        let reply = run(&grep, &msg, input())
            .await
            .refusal()
            .map(|r| r.to_bytes());
        assert_eq!(reply.as_deref(), Some(&b"554 5.7.1 Virus found\r\n"[..]));
        assert!(matches!(
            run(&cfg("exit 3"), &msg, input()).await,
            Verdict::TempFail(_)
        ));
        let mut hang = cfg("sleep 30");
        hang.timeout = Seconds(1);
        assert!(
            matches!(run(&hang, &msg, input()).await, Verdict::TempFail(r)
            if r.lines[0].contains("timed out"))
        );
        let none = Filter {
            command: FilterCommand::Argv(vec!["/nonexistent/filter".into()]),
            ..cfg("")
        };
        assert!(matches!(
            run(&none, &msg, input()).await,
            Verdict::TempFail(_)
        ));
    }
}
