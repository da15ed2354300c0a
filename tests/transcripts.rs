//! Protocol transcripts (`tests/transcripts/<protocol>/*.t`, format in its README): each one is
//! played by the same runner against the pure protocol core (the session type with the demo's
//! config and users, no socket) and against the real daemon over a socket (`serve --demo`).
//! A protocol regression is a new five-line file.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic

mod common;

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use common::Demo;
use postern::config::Config;
use postern::receive::policy::lookups::find;
use postern::receive::policy::{trusted_client, MaildirUsage, SmtpPolicy, SpoolVolume};
use postern::store::users::Users;

/// One step of a transcript.
#[derive(Debug)]
enum Step {
    /// `C: line`
    Send(String),
    /// `S: text` — the next server line starts with it.
    Expect(String),
    /// `S* text` — server lines are skipped until one starts with it.
    SkipTo(String),
}

fn load(path: &Path) -> Vec<Step> {
    let text = std::fs::read_to_string(path).expect("transcript");
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            if let Some(rest) = l.strip_prefix("C:") {
                Step::Send(rest.strip_prefix(' ').unwrap_or(rest).to_string())
            } else if let Some(rest) = l.strip_prefix("S:") {
                Step::Expect(rest.strip_prefix(' ').unwrap_or(rest).to_string())
            } else if let Some(rest) = l.strip_prefix("S*") {
                Step::SkipTo(rest.strip_prefix(' ').unwrap_or(rest).to_string())
            } else {
                panic!("{}: not a transcript line: {l:?}", path.display())
            }
        })
        .collect()
}

fn transcripts(protocol: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/transcripts")
        .join(protocol);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("transcripts dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "t"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no transcripts in {}", dir.display());
    files
}

/// The other end of a conversation.
trait Peer {
    fn send(&mut self, line: &str);
    /// The server's next line (without its line end), `None` when it closed.
    fn line(&mut self) -> Option<String>;
}

/// Plays `steps` against `peer`; the error says where it went wrong and what was seen.
fn play(steps: &[Step], peer: &mut dyn Peer) -> Result<(), String> {
    let mut seen = Vec::new();
    for step in steps {
        match step {
            Step::Send(line) => {
                seen.push(format!("C: {line}"));
                peer.send(line);
            }
            Step::Expect(want) => {
                let got = peer.line();
                seen.push(format!("S: {}", got.as_deref().unwrap_or("<closed>")));
                if !got.as_deref().is_some_and(|g| g.starts_with(want.as_str())) {
                    return Err(format!("expected {want:?}\n{}", seen.join("\n")));
                }
            }
            Step::SkipTo(want) => loop {
                let got = peer.line();
                seen.push(format!("S: {}", got.as_deref().unwrap_or("<closed>")));
                match got {
                    Some(g) if g.starts_with(want.as_str()) => break,
                    Some(_) => {}
                    None => return Err(format!("never saw {want:?}\n{}", seen.join("\n"))),
                }
            },
        }
    }
    Ok(())
}

/// Plays every transcript of `protocol` against peers made by `peer`.
fn play_all(protocol: &str, mut peer: impl FnMut() -> Box<dyn Peer>) {
    let mut failures = Vec::new();
    for path in transcripts(protocol) {
        if let Err(why) = play(&load(&path), &mut *peer()) {
            failures.push(format!("{}: {why}", path.display()));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n\n"));
}

/// The daemon over a socket.
struct Socket {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Socket {
    fn connect(port: u16) -> Socket {
        let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        Socket {
            writer: s.try_clone().expect("clone"),
            reader: BufReader::new(s),
        }
    }
}

impl Peer for Socket {
    fn send(&mut self, line: &str) {
        let _ = self.writer.write_all(format!("{line}\r\n").as_bytes());
    }

    fn line(&mut self) -> Option<String> {
        let mut buf = String::new();
        match self.reader.read_line(&mut buf) {
            Ok(0) | Err(_) => None,
            Ok(_) => Some(buf.trim_end_matches(['\r', '\n']).to_string()),
        }
    }
}

/// Lines of output not yet read by the transcript.
#[derive(Default)]
struct Lines {
    partial: Vec<u8>,
    ready: VecDeque<String>,
}

impl Lines {
    fn push(&mut self, bytes: &[u8]) {
        self.partial.extend_from_slice(bytes);
        while let Some(nl) = self.partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=nl).collect();
            let text = String::from_utf8_lossy(&line);
            self.ready
                .push_back(text.trim_end_matches(['\r', '\n']).to_string());
        }
    }
}

/// The demo's config and users, as the daemon loads them.
fn site(demo: &Demo) -> (Config, Arc<Users>) {
    let config = postern::config::load(&demo.config()).expect("config");
    let users = Users::load(&config.paths.users).expect("users");
    (config, Arc::new(users))
}

/// The SMTP core, driven the way the connection driver drives it.
struct SmtpCore {
    session: postern::proto::smtp::Session,
    config: Config,
    users: Arc<Users>,
    out: Lines,
}

impl SmtpCore {
    fn new(demo: &Demo) -> SmtpCore {
        let (config, users) = site(demo);
        let listener = config.listener("smtp").expect("smtp listener").clone();
        let ip = "127.0.0.1".parse().ok();
        let client = postern::proto::smtp::Client {
            ip,
            trusted: trusted_client(&config, Some(&listener), ip),
            ..Default::default()
        };
        let cfg = postern::receive::smtp::session_config(&config, &listener, false);
        let session = postern::proto::smtp::Session::new(cfg, client);
        let mut out = Lines::default();
        out.push(&session.greeting());
        SmtpCore {
            session,
            config,
            users,
            out,
        }
    }

    fn pump(&mut self) {
        use postern::proto::smtp::Action;
        let mut stored = 0;
        loop {
            let policy = SmtpPolicy {
                listener: Some("smtp"),
                spool_space: true,
                quotas: true,
                creds: Some(&*self.users),
                ..SmtpPolicy::new(&self.config, &self.users)
            };
            let step = self.session.step(&policy);
            self.out.push(&step.output);
            match step.action {
                Action::NeedInput | Action::Close | Action::StartTls => return,
                Action::Pause(_) => {}
                Action::Store(_) => {
                    stored += 1;
                    let reply = self.session.stored(Ok(format!("CORE{stored}")));
                    self.out.push(&reply);
                }
                Action::Lookup(lookups) => {
                    let paths = &self.config.paths;
                    let found = find(
                        &lookups,
                        &self.config.receiving,
                        &NoDns,
                        &MaildirUsage(&paths.mail),
                        &SpoolVolume(&paths.spool),
                        &postern::store::greylist::Greylist::new(&paths.spool),
                        &postern::store::rates::Rates::new(&paths.spool),
                    );
                    self.session.found(found);
                }
            }
        }
    }
}

impl Peer for SmtpCore {
    fn send(&mut self, line: &str) {
        self.session.receive(format!("{line}\r\n").as_bytes());
        self.pump();
    }

    fn line(&mut self) -> Option<String> {
        self.out.ready.pop_front()
    }
}

/// The demo checks nothing in DNS; a lookup reaching this is a test failure.
struct NoDns;
impl postern::dns::Dns for NoDns {
    fn ips(&self, name: &str) -> Result<Vec<std::net::IpAddr>, postern::dns::LookupError> {
        panic!("unexpected DNS lookup of {name}")
    }
    fn mx(&self, name: &str) -> Result<Vec<String>, postern::dns::LookupError> {
        panic!("unexpected DNS lookup of {name}")
    }
    fn txt(&self, name: &str) -> Result<Vec<String>, postern::dns::LookupError> {
        panic!("unexpected DNS lookup of {name}")
    }
    fn ptr(&self, ip: std::net::IpAddr) -> Result<Vec<String>, postern::dns::LookupError> {
        panic!("unexpected DNS lookup of {ip}")
    }
}

/// The POP3 core on the demo's mail volume.
struct Pop3Core {
    session: postern::proto::pop3::Session<postern::access::pop3::VolumeBackend>,
    out: Lines,
}

impl Pop3Core {
    fn new(demo: &Demo) -> Pop3Core {
        let (config, users) = site(demo);
        let cfg = postern::access::pop3::session_config(&config, true, false);
        let backend = postern::access::pop3::VolumeBackend::new(users, config.paths.mail.clone());
        let banner = postern::proto::sasl::apop_banner(&config.server.hostname)
            .expect("random bytes for APOP");
        let (session, greeting) = postern::proto::pop3::Session::new(cfg, banner, backend);
        let mut out = Lines::default();
        out.push(&greeting);
        Pop3Core { session, out }
    }
}

impl Peer for Pop3Core {
    fn send(&mut self, line: &str) {
        use postern::proto::pop3::Action;
        for action in self.session.line(line.as_bytes()) {
            match action {
                Action::Reply(bytes) => self.out.push(&bytes),
                Action::Stream(mut s) => {
                    let mut all = Vec::new();
                    let _ = s.read_to_end(&mut all);
                    self.out.push(&all);
                }
                Action::Event(_) | Action::Pause(_) | Action::StartTls | Action::Close => {}
            }
        }
    }

    fn line(&mut self) -> Option<String> {
        self.out.ready.pop_front()
    }
}

#[test]
fn smtp_transcripts_against_the_core_and_the_daemon() {
    let demo = Demo::start();
    play_all("smtp", || Box::new(SmtpCore::new(&demo)));
    play_all("smtp", || Box::new(Socket::connect(demo.port(2525))));
}

#[test]
fn pop3_transcripts_against_the_core_and_the_daemon() {
    let demo = Demo::start();
    play_all("pop3", || Box::new(Pop3Core::new(&demo)));
    play_all("pop3", || Box::new(Socket::connect(demo.port(2110))));
}
