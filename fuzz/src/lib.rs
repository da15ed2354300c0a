//! The fuzz harnesses: one function per target, each taking the fuzzer's bytes and driving one
//! parser or session of postern that reads untrusted input, the way the daemons drive it.
//!
//! The same functions run under libFuzzer (`fuzz_targets/*.rs`, built by `bin/fuzz`) and, without
//! it, in the ordinary test suite (`tests/fuzz_replay.rs` replays every seed and every saved
//! regression input). A harness panics when something is wrong beyond "no crash": a session that
//! never asks for input again, SPF that makes more DNS queries than RFC 7208 allows, output that
//! contradicts the parse.

pub mod alphabet;
pub mod collect;
pub mod config;
pub mod creds;
pub mod imap;
pub mod managesieve;
pub mod mime;
pub mod ntlm;
pub mod pop3;
pub mod sasl;
pub mod sieve;
pub mod site;
pub mod smtp;
pub mod spf;
pub mod spool;

/// A harness: takes the fuzzer's bytes, panics when something is wrong.
pub type Harness = fn(&[u8]);

/// Every target: its name (the binary under `fuzz_targets/`, the folders under `corpus/` and
/// `regressions/`) and its harness.
pub const TARGETS: &[(&str, Harness)] = &[
    ("smtp_command", smtp::command),
    ("smtp_session", smtp::session),
    ("imap_assembler", imap::assembler),
    ("imap_parser", imap::parser),
    ("imap_session", imap::session),
    ("pop3_session", pop3::session),
    ("sasl", sasl::exchange),
    ("spool_deliver", spool::deliver),
    ("config", config::parse),
    ("mime", mime::message),
    ("spf", spf::evaluate),
    ("collect_client", collect::pass),
    ("sieve", sieve::script),
    ("ntlm", ntlm::messages),
    ("managesieve", managesieve::session),
];

/// Silence postern's event lines (they go to stderr and would drown the fuzzer's output).
pub fn quiet() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| postern::events::set_sink(Some(Box::new(|_| {}))));
}

/// The tokio runtime of the harnesses that run async code (the intake, the collect client).
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime")
    })
}

/// A message handed to the real intake, as a daemon hands it over, on a site of its own (a
/// fresh spool; the queue runner would deliver): the outcome, and what was queued (the message
/// with its trace header) when it was.
pub fn intake(sub: postern::intake::Submission) -> (postern::intake::Outcome, Option<Vec<u8>>) {
    use postern::intake::{Handoff, Intake, Outcome};
    use postern::queue::deliver::Deliverer;
    use postern::queue::spool::{Area, Spool};
    use postern::store::users::UsersCache;
    use std::sync::Arc;

    let site = site::Site::new();
    let spool = Arc::new(Spool::open(&site.config.paths.spool).expect("spool"));
    let users = Arc::new(UsersCache::new(&site.config.paths.users).expect("users"));
    let deliverer = Arc::new(Deliverer::new(site.config.clone(), spool.clone(), users));
    let intake = Intake::new(deliverer, Handoff::QueueRunner);
    let outcome = runtime().block_on(intake.accept(sub));
    let queued = match &outcome {
        Outcome::Accepted(a) if a.queued => {
            let message = spool
                .peek(Area::Queue, &a.id)
                .expect("an accepted message reads back from the spool");
            Some(message.read_body().expect("the body of a queued message"))
        }
        _ => None,
    };
    (outcome, queued)
}

/// A loop that must end: panics (a hang, for the fuzzer) after `limit` rounds.
pub fn bounded(limit: usize, what: &str) -> impl FnMut() {
    let mut n = 0;
    let what = what.to_string();
    move || {
        n += 1;
        assert!(n <= limit, "{what}: no end after {limit} rounds");
    }
}

/// With `POSTERN_FUZZ_SHOW` set, a harness prints what a session said (for reading a
/// reproducer: `POSTERN_FUZZ_SHOW=1 target/…/smtp_session crash-…`).
pub fn show(what: &str, bytes: &[u8]) {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    if *ON.get_or_init(|| std::env::var_os("POSTERN_FUZZ_SHOW").is_some()) {
        eprintln!("--- {what}\n{}", String::from_utf8_lossy(bytes));
    }
}
