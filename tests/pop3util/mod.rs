//! Helpers shared by the POP3 integration tests: filling a maildir directly (as a delivery agent
//! would: LF line ends, files in `new/`) and comparing bodies by SHA-256.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;

use sha2::{Digest, Sha256};

/// The body (after the first blank line) with LF line ends.
pub fn body_of(message: &[u8]) -> Vec<u8> {
    let lf: Vec<u8> = {
        let mut out = Vec::with_capacity(message.len());
        let mut i = 0;
        while i < message.len() {
            if message[i] == b'\r' && message.get(i + 1) == Some(&b'\n') {
                i += 1;
                continue;
            }
            out.push(message[i]);
            i += 1;
        }
        out
    };
    match lf.windows(2).position(|w| w == b"\n\n") {
        Some(p) => lf[p + 2..].to_vec(),
        None => Vec::new(),
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A multiset of body hashes: hash → count.
pub type Hashes = BTreeMap<String, usize>;

pub fn add_hash(set: &mut Hashes, message: &[u8]) {
    *set.entry(sha256_hex(&body_of(message))).or_default() += 1;
}

/// A deterministic message body of about `size` octets with awkward lines: a leading dot,
/// a lone dot, a `From ` line, trailing spaces.
pub fn message(i: usize, size: usize) -> Vec<u8> {
    let mut m = format!(
        "From: sender@client.test\nTo: demo@example.test\nSubject: message {i}\nMessage-ID: <{i}.pop3test@client.test>\n\n"
    )
    .into_bytes();
    m.extend_from_slice(
        format!(".leading dot {i}\n.\n..two dots\nFrom the start {i}\ntrailing  \n").as_bytes(),
    );
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15 ^ i as u64;
    while m.len() < size {
        let mut line = String::new();
        for _ in 0..10 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            line.push_str(&format!("{:x} ", x % 1_000_000));
        }
        line.push('\n');
        m.extend_from_slice(line.as_bytes());
    }
    m
}

/// Writes `count` messages into `maildir/new` (creating the maildir); returns their body hashes.
pub fn fill(maildir: &Path, count: usize, size: usize) -> Hashes {
    for sub in ["tmp", "new", "cur"] {
        std::fs::create_dir_all(maildir.join(sub)).expect("maildir");
    }
    let mut hashes = Hashes::new();
    for i in 0..count {
        let m = message(i, size);
        add_hash(&mut hashes, &m);
        std::fs::write(
            maildir
                .join("new")
                .join(format!("1700000000.M{i}P1.filltest")),
            &m,
        )
        .expect("write message");
    }
    hashes
}

/// Hashes of the bodies of every file in a directory tree's `new/` and `cur/`, or of the plain
/// files directly in `dir` when it is not a maildir.
pub fn hashes_in(dir: &Path) -> Hashes {
    let mut set = Hashes::new();
    let subs: Vec<std::path::PathBuf> = if dir.join("new").is_dir() {
        vec![dir.join("new"), dir.join("cur")]
    } else {
        vec![dir.to_path_buf()]
    };
    for sub in subs {
        for e in std::fs::read_dir(&sub).expect("read_dir").flatten() {
            if e.path().is_file() {
                add_hash(&mut set, &std::fs::read(e.path()).expect("read"));
            }
        }
    }
    set
}
