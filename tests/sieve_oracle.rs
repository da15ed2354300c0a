//! The Sieve oracle: every script of tests/sieve/corpus runs against every message of
//! tests/sieve/messages through Dovecot Pigeonhole's `sieve-test` (Debian `dovecot-sieve`) and
//! through postern's interpreter; the action lists (keep / fileinto / redirect / discard /
//! reject / vacation, with IMAP flags and `:copy`) must be equal.
//!
//! Envelope: `NAME.env` next to each message holds the sender and the recipient. Includes come
//! from tests/sieve/include (personal) and tests/sieve/include/global (global), the same for
//! both. Spam verdicts: Pigeonhole reads `X-Spam-Level` stars (strlen, max 10); postern gets the
//! same verdict through `Input::spam_score`.
//!
//! Known, documented differences (also in the README's Sieve section):
//! - Pigeonhole 0.5.19 (Debian 12) has no `ereject`; postern implements RFC 5429 fully. Scripts
//!   using it are checked against the expected actions in `POSTERN_ONLY`.
//! - `vacation` periods: Pigeonhole clamps them to its `sieve_vacation_min_period` (1 day) and
//!   `max_period` (60 days) when it runs the script; postern's interpreter reports the period the
//!   script asked for and the delivery glue clamps. The comparison clamps postern's the same way.
//! - Default vacation handles are implementation-defined (RFC 5230 §4.2); only explicit
//!   `:handle`s are compared.
//! - `sieve-test` cannot express the null reverse-path (`-f ""` and `-f "<>"` are refused), so
//!   `<>` is covered by the unit tests only.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use postern::proto::sieve::{
    compile, run, Action, Budget, Envelope, Environment, Extensions, Input, SpamScore,
};

/// Scripts Pigeonhole cannot run, with the actions postern must produce per message.
const POSTERN_ONLY: &[(&str, &str, &str)] = &[
    ("24-ereject", "spam", "ereject"),
    ("24-ereject", "plain", "keep INBOX"),
];

/// Pairs where postern follows the RFC and Pigeonhole does not: (script, message, what
/// Pigeonhole does, what postern does). Both sides are checked, so neither drifts unnoticed.
/// - 27-string-test × bounce: the `string` test (RFC 5229 §5) has the default comparator of
///   every test, `i;ascii-casemap` (RFC 5228 §2.7.3); Pigeonhole's defaults to `i;octet`, so
///   `string :contains "MAILER-DAEMON" "e"` is false there and true in postern.
/// - 58-matches-question × spam: `"<????-?@*>"` must not match `<spam-99@spam.example>` (the
///   `?` before `@` is exactly one character, RFC 5228 §2.7.1); Pigeonhole's matcher lets a
///   `?…` segment before a `*` float and matches it (with `${5}` = "9").
/// - 39-index × spam: `date :index 2 … "received"` reads the second Received field (RFC 5260
///   §6); Pigeonhole reads the first whatever the index.
const DIFFERENCES: &[(&str, &str, &str, &str)] = &[
    (
        "27-string-test",
        "bounce",
        "fileinto Alice",
        "fileinto Alice|fileinto HasE",
    ),
    (
        "58-matches-question",
        "spam",
        "fileinto Short-9",
        "implicit keep INBOX",
    ),
    (
        "39-index",
        "spam",
        "fileinto FirstHop|fileinto Origin",
        "fileinto FirstHop|fileinto Origin|fileinto SecondHopAtTwo",
    ),
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sieve")
}

struct Dirs {
    include: PathBuf,
}

impl Environment for Dirs {
    fn mailbox_exists(&mut self, name: &str) -> bool {
        name.eq_ignore_ascii_case("INBOX")
    }
    fn include(&mut self, global: bool, name: &str) -> Option<String> {
        let dir = if global {
            self.include.join("global")
        } else {
            self.include.clone()
        };
        std::fs::read_to_string(dir.join(format!("{name}.sieve"))).ok()
    }
    fn duplicate(&mut self, _id: &str, _handle: &str, _seconds: u64, _last: bool) -> bool {
        false
    }
}

/// One action in a form both sides can produce.
fn norm_store(mailbox: &str, flags: &[String], copy: bool) -> String {
    let mut f: Vec<String> = flags.iter().map(|x| x.to_ascii_lowercase()).collect();
    f.sort();
    let mut s = format!("keep {mailbox}");
    if mailbox != "INBOX" {
        s = format!("fileinto {mailbox}");
    }
    if !f.is_empty() {
        s.push_str(&format!(" flags={}", f.join(",")));
    }
    if copy {
        s.push_str(" copy");
    }
    s
}

fn postern_actions(script: &str, msg: &[u8], envelope: &Envelope, now: i64) -> Vec<String> {
    let compiled = match compile(script, &Extensions::all()) {
        Ok(c) => c,
        Err(e) => return vec![format!("compile error: {e}")],
    };
    let stars = Input::spam_stars(msg);
    let input = Input {
        envelope,
        message: msg,
        spam_score: stars.map(|n| SpamScore::from_percent((n.min(10) * 10) as u8)),
        now: (now, 0),
        subaddress_separator: '+',
    };
    let mut env = Dirs {
        include: root().join("include"),
    };
    let outcome = match run(&compiled, &input, &mut env, &Budget::default()) {
        Ok(o) => o,
        Err(_) => return vec!["error".into()],
    };
    let mut out = Vec::new();
    for a in &outcome.actions {
        out.push(match a {
            Action::Keep { flags } => norm_store("INBOX", flags, false),
            Action::FileInto {
                mailbox,
                flags,
                copy,
                ..
            } => norm_store(mailbox, flags, *copy),
            Action::Redirect { address, copy } => {
                format!("redirect {address}{}", if *copy { " copy" } else { "" })
            }
            Action::Discard => "discard".into(),
            Action::Reject { reason, extended } => {
                if *extended {
                    "ereject".into()
                } else {
                    format!("reject {}", reason.replace("\r\n", "??"))
                }
            }
            Action::Vacation(v) => {
                let secs = v.period_seconds.clamp(86400, 60 * 86400);
                let mut s = format!("vacation seconds={secs}");
                if let Some(subj) = &v.subject {
                    s.push_str(&format!(" subject={subj}"));
                }
                if let Some(from) = &v.from {
                    s.push_str(&format!(" from={from}"));
                }
                s
            }
        });
    }
    if outcome.implicit_keep {
        out.push(format!(
            "implicit {}",
            norm_store("INBOX", &outcome.implicit_keep_flags, false)
        ));
    }
    out.sort();
    out
}

trait Stars {
    fn spam_stars(msg: &[u8]) -> Option<u32>;
}

impl Stars for Input<'_> {
    fn spam_stars(msg: &[u8]) -> Option<u32> {
        let text = String::from_utf8_lossy(msg);
        let header = text.split("\r\n\r\n").next().unwrap_or_default();
        header.lines().find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("x-spam-level")
                .then(|| value.trim().chars().filter(|c| *c == '*').count() as u32)
        })
    }
}

/// An action being read: kind, argument, flags, `:copy`, vacation fields.
type Pending = (String, String, Vec<String>, bool, BTreeMap<String, String>);

/// Parse `sieve-test`'s "Performed actions:" and "Implicit keep:" sections.
fn pigeonhole_actions(stdout: &str, ok: bool) -> Vec<String> {
    if !ok {
        return vec!["error".into()];
    }
    #[derive(PartialEq)]
    enum Sec {
        None,
        Performed,
        Implicit,
    }
    let mut sec = Sec::None;
    let mut out: Vec<String> = Vec::new();
    let mut cur: Option<Pending> = None;
    let mut in_message = false;
    let flush = |cur: &mut Option<Pending>, out: &mut Vec<String>, implicit: bool| {
        if let Some((kind, arg, flags, copy, vac)) = cur.take() {
            let s = match kind.as_str() {
                "store" => norm_store(&arg, &flags, copy),
                "redirect" => format!("redirect {arg}{}", if copy { " copy" } else { "" }),
                "discard" => "discard".into(),
                "reject" => format!("reject {arg}"),
                "vacation" => {
                    let mut s = format!(
                        "vacation seconds={}",
                        vac.get("seconds").cloned().unwrap_or_default()
                    );
                    if let Some(subj) = vac.get("subject") {
                        s.push_str(&format!(" subject={subj}"));
                    }
                    if let Some(from) = vac.get("from") {
                        s.push_str(&format!(" from={from}"));
                    }
                    s
                }
                "track" => return,
                other => format!("unknown {other} {arg}"),
            };
            out.push(if implicit { format!("implicit {s}") } else { s });
        }
    };
    for line in stdout.lines() {
        if line == "START MESSAGE" {
            in_message = true;
            continue;
        }
        if line == "END MESSAGE" {
            in_message = false;
            continue;
        }
        if in_message {
            continue;
        }
        match line {
            "Performed actions:" => {
                sec = Sec::Performed;
                continue;
            }
            "Implicit keep:" => {
                flush(&mut cur, &mut out, false);
                sec = Sec::Implicit;
                continue;
            }
            _ => {}
        }
        if sec == Sec::None {
            continue;
        }
        let t = line.trim();
        if let Some(rest) = t.strip_prefix("* ") {
            flush(&mut cur, &mut out, sec == Sec::Implicit);
            let (kind, arg) = if let Some(m) = rest.strip_prefix("store message in folder: ") {
                ("store", m.to_string())
            } else if let Some(a) = rest.strip_prefix("redirect message to: ") {
                (
                    "redirect",
                    a.trim_matches(|c| c == '<' || c == '>').to_string(),
                )
            } else if rest == "discard" {
                ("discard", String::new())
            } else if let Some(r) = rest.strip_prefix("reject message with reason: ") {
                ("reject", r.to_string())
            } else if rest.starts_with("send vacation message") {
                ("vacation", String::new())
            } else if rest.starts_with("track duplicate") {
                ("track", String::new())
            } else {
                ("other", rest.to_string())
            };
            cur = Some((kind.into(), arg, Vec::new(), false, BTreeMap::new()));
        } else if let Some(flags) = t.strip_prefix("+ add IMAP flags: ") {
            if let Some(c) = cur.as_mut() {
                c.2 = flags.split_whitespace().map(str::to_string).collect();
            }
        } else if t == "+ preserve implicit keep" {
            if let Some(c) = cur.as_mut() {
                c.3 = true;
            }
        } else if let Some(kv) = t.strip_prefix("=> ") {
            if let (Some(c), Some((k, v))) = (cur.as_mut(), kv.split_once(':')) {
                c.4.insert(k.trim().to_string(), v.trim().to_string());
            }
        }
    }
    flush(&mut cur, &mut out, sec == Sec::Implicit);
    out.sort();
    out
}

/// sieve-test, a work directory it may write in, and the mail uid/gid it runs as.
fn sieve_test_workdir() -> (&'static Path, tempfile::TempDir, u32, u32) {
    let sieve_test = Path::new("/usr/bin/sieve-test");
    assert!(
        sieve_test.exists(),
        "sieve-test is missing: run bin/install-test-deps (dovecot-sieve)"
    );
    let work = tempfile::tempdir().unwrap();
    // sieve-test drops to mail_uid and saves compiled binaries next to the scripts.
    std::fs::set_permissions(work.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    // As root sieve-test must drop to a mail user (nobody); otherwise it runs as whoever we are.
    let me = std::fs::metadata(work.path()).unwrap();
    let (uid, gid) = if me.uid() == 0 {
        (65534, 65534)
    } else {
        (me.uid(), me.gid())
    };
    (sieve_test, work, uid, gid)
}

#[test]
fn corpus_matches_pigeonhole() {
    let (sieve_test, work, uid, gid) = sieve_test_workdir();
    let root = root();
    let conf = work.path().join("dovecot.conf");
    std::fs::write(
        &conf,
        format!(
            "mail_uid = {uid}\nmail_gid = {gid}\nfirst_valid_uid = 0\nfirst_valid_gid = 0\n\
             mail_location = maildir:{mail}\n\
             plugin {{\n  sieve = file:{inc}\n  sieve_global = {inc}/global\n  \
             sieve_extensions = +vacation-seconds +editheader +spamtest +spamtestplus\n  \
             sieve_spamtest_status_type = strlen\n  sieve_spamtest_status_header = X-Spam-Level\n  \
             sieve_spamtest_max_value = 10\n}}\n",
            mail = work.path().join("mail").display(),
            inc = root.join("include").display(),
        ),
    )
    .unwrap();
    let mut scripts: Vec<PathBuf> = std::fs::read_dir(root.join("corpus"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "sieve"))
        .collect();
    scripts.sort();
    let mut messages: Vec<PathBuf> = std::fs::read_dir(root.join("messages"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    messages.sort();
    assert!(scripts.len() >= 40, "corpus too small: {}", scripts.len());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let mut failures = Vec::new();
    let mut compared = 0;
    for script in &scripts {
        let name = script.file_stem().unwrap().to_string_lossy().to_string();
        let copy = work.path().join(format!("{name}.sieve"));
        std::fs::copy(script, &copy).unwrap();
        std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o644)).unwrap();
        let source = std::fs::read_to_string(script).unwrap();
        for msg in &messages {
            let mname = msg.file_stem().unwrap().to_string_lossy().to_string();
            let env_text = std::fs::read_to_string(msg.with_extension("env")).unwrap();
            let mut lines = env_text.lines();
            let envelope = Envelope {
                from: lines.next().unwrap_or_default().to_string(),
                to: lines.next().unwrap_or_default().to_string(),
                orig_to: None,
                auth: None,
            };
            let bytes = std::fs::read(msg).unwrap();
            let ours = postern_actions(&source, &bytes, &envelope, now);
            let expected: Vec<String> = if let Some((_, _, want)) = POSTERN_ONLY
                .iter()
                .find(|(s, m, _)| *s == name && *m == mname)
            {
                vec![want.to_string()]
            } else if POSTERN_ONLY.iter().any(|(s, _, _)| *s == name) {
                continue;
            } else {
                let out = Command::new(sieve_test)
                    .env("TZ", "UTC")
                    .arg("-c")
                    .arg(&conf)
                    .arg("-f")
                    .arg(&envelope.from)
                    .arg("-r")
                    .arg(&envelope.to)
                    .arg("-a")
                    .arg(&envelope.to)
                    .arg(&copy)
                    .arg(msg)
                    .output()
                    .unwrap();
                let stdout = String::from_utf8_lossy(&out.stdout);
                let stderr = String::from_utf8_lossy(&out.stderr);
                assert!(
                    !stderr.contains("Fatal"),
                    "sieve-test failed on {name} × {mname}: {stderr}"
                );
                pigeonhole_actions(&stdout, out.status.success())
            };
            let ours = if POSTERN_ONLY.iter().any(|(s, _, _)| *s == name) {
                ours.into_iter()
                    .map(|a| a.replace("implicit ", ""))
                    .collect()
            } else {
                ours
            };
            compared += 1;
            if let Some((_, _, theirs, mine)) = DIFFERENCES
                .iter()
                .find(|(s, m, _, _)| *s == name && *m == mname)
            {
                let split = |x: &str| x.split('|').map(str::to_string).collect::<Vec<_>>();
                if expected != split(theirs) || ours != split(mine) {
                    failures.push(format!(
                        "{name} × {mname} (a documented difference changed):\n  pigeonhole: {expected:?}\n  postern:    {ours:?}"
                    ));
                }
                continue;
            }
            if ours != expected {
                failures.push(format!(
                    "{name} × {mname}:\n  pigeonhole: {expected:?}\n  postern:    {ours:?}"
                ));
            }
        }
    }
    assert!(compared >= 200, "only {compared} pairs compared");
    assert!(
        failures.is_empty(),
        "{} of {compared} pairs differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Scripts of tests/sieve/invalid that postern refuses and Pigeonhole compiles: RFC 5260 §4.1
/// and §4.2 define the zone (`+hhmm`/`-hhmm`) and the date parts; postern reports a bad literal
/// one when the script is stored (ManageSieve PUTSCRIPT), Pigeonhole lets the test fail when it
/// runs.
const STRICTER: &[&str] = &["17", "18"];

/// Every script of tests/sieve/invalid fails to compile in both, and postern names a line.
#[test]
fn invalid_scripts_fail_in_both() {
    let (sieve_test, work, uid, gid) = sieve_test_workdir();
    let root = root();
    let conf = work.path().join("dovecot.conf");
    std::fs::write(
        &conf,
        format!(
            "mail_uid = {uid}\nmail_gid = {gid}\nfirst_valid_uid = 0\nfirst_valid_gid = 0\n\
             mail_location = maildir:{mail}\n\
             plugin {{\n  sieve_extensions = +vacation-seconds +editheader\n}}\n",
            mail = work.path().join("mail").display(),
        ),
    )
    .unwrap();
    let mut scripts: Vec<PathBuf> = std::fs::read_dir(root.join("invalid"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    scripts.sort();
    assert!(scripts.len() >= 25, "{} invalid scripts", scripts.len());
    let mut problems = Vec::new();
    for script in &scripts {
        let name = script.file_stem().unwrap().to_string_lossy().to_string();
        let source = std::fs::read_to_string(script).unwrap();
        match compile(&source, &Extensions::all()) {
            Ok(_) => problems.push(format!("postern compiles invalid/{name}: {source}")),
            Err(e) => assert!(
                e.line >= 1 && e.line <= source.lines().count().max(1),
                "{e}"
            ),
        }
        let copy = work.path().join(format!("{name}.sieve"));
        std::fs::copy(script, &copy).unwrap();
        let out = Command::new(sieve_test)
            .arg("-c")
            .arg(&conf)
            .arg(&copy)
            .arg(root.join("messages/plain.eml"))
            .output()
            .unwrap();
        let refused = !out.status.success()
            && String::from_utf8_lossy(&out.stderr).contains("failed to compile");
        if refused == STRICTER.contains(&name.as_str()) {
            problems.push(format!(
                "Pigeonhole {} invalid/{name}: {source}",
                if refused { "now refuses" } else { "compiles" }
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_parser_of_sieve_test_output_reads_every_action() {
    let sample = "\nPerformed actions:\n\n * store message in folder: Work\n        + add IMAP flags: \\seen X\n        + preserve implicit keep\n * redirect message to: <a@b.c>\n * discard\n * send vacation message:\n    => seconds : 86400\n    => subject : Away\n    => handle  : h\n\nSTART MESSAGE\n * not an action\nEND MESSAGE\n\nImplicit keep:\n\n * store message in folder: INBOX\n\n";
    assert_eq!(
        pigeonhole_actions(sample, true),
        vec![
            "discard",
            "fileinto Work flags=\\seen,x copy",
            "implicit keep INBOX",
            "redirect a@b.c",
            "vacation seconds=86400 subject=Away",
        ]
    );
    assert_eq!(pigeonhole_actions("", false), vec!["error"]);
}

/// The original and the final recipient: a message for the alias `sales+news@example.test`
/// that our aliases expanded to `demo@example.test` is, for Pigeonhole, `sieve-test -a` (the
/// original recipient) and `-r` (the final one). Its `envelope "to"` is the original (RFC 5228
/// §5.4: the RCPT command that caused the delivery) in both; postern's envelope is the one its
/// delivery builds (`envelope_of` on the queued recipient).
#[test]
fn original_and_final_recipient_match_pigeonhole() {
    use postern::queue::deliver::sieve::envelope_of;
    use postern::queue::spool::Recipient;
    let (sieve_test, work, uid, gid) = sieve_test_workdir();
    let conf = work.path().join("dovecot.conf");
    std::fs::write(
        &conf,
        format!(
            "mail_uid = {uid}\nmail_gid = {gid}\nfirst_valid_uid = 0\nfirst_valid_gid = 0\n\
             mail_location = maildir:{}\n",
            work.path().join("mail").display()
        ),
    )
    .unwrap();
    let scripts = [
        "require [\"envelope\", \"fileinto\"];\n\
         if envelope :all :is \"to\" \"sales+news@example.test\" { fileinto \"To-Original\"; }\n\
         if envelope :all :is \"to\" \"demo@example.test\" { fileinto \"To-Final\"; }\n",
        "require [\"envelope\", \"fileinto\", \"subaddress\"];\n\
         if envelope :detail \"to\" \"news\" { fileinto \"Detail-News\"; }\n\
         if envelope :user \"to\" \"sales\" { fileinto \"User-Sales\"; }\n\
         if envelope :localpart :is \"to\" \"demo\" { fileinto \"Local-Demo\"; }\n",
        "require [\"envelope\", \"fileinto\", \"variables\"];\n\
         if envelope :matches \"to\" \"*@*\" { fileinto \"Got-${1}\"; }\n",
    ];
    let msg = root().join("messages/plain.eml");
    let bytes = std::fs::read(&msg).unwrap();
    let rcpt = Recipient {
        expanded_from: Some("sales+news@example.test".into()),
        ..Recipient::new("demo@example.test")
    };
    let envelope = envelope_of("alice@example.com", &rcpt, None);
    assert_eq!(envelope.to, "sales+news@example.test");
    for (n, source) in scripts.iter().enumerate() {
        let path = work.path().join(format!("orig{n}.sieve"));
        std::fs::write(&path, source).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let out = Command::new(sieve_test)
            .env("TZ", "UTC")
            .arg("-c")
            .arg(&conf)
            .args(["-f", "alice@example.com"])
            .args(["-a", "sales+news@example.test", "-r", "demo@example.test"])
            .arg(&path)
            .arg(&msg)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("Fatal"), "sieve-test: {stderr}");
        let theirs =
            pigeonhole_actions(&String::from_utf8_lossy(&out.stdout), out.status.success());
        let ours = postern_actions(source, &bytes, &envelope, 0);
        assert!(
            theirs.iter().any(|a| a.starts_with("fileinto")),
            "script {n} files nothing: {theirs:?}"
        );
        assert_eq!(ours, theirs, "script {n}:\n{source}");
    }
    // `orig_to` (RFC 3461's original recipient) is postern's own: Pigeonhole 0.5.19 refuses
    // the part when the script is compiled.
    let path = work.path().join("orig-to.sieve");
    std::fs::write(
        &path,
        "require \"envelope\";\nif envelope \"orig_to\" \"x@y.test\" { discard; }\n",
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = Command::new(sieve_test)
        .arg("-c")
        .arg(&conf)
        .arg(&path)
        .arg(&msg)
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("'orig_to' is not supported"),
        "Pigeonhole now knows orig_to: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
