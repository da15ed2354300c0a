//! The queue-file reader and what delivery does with what it read: the input is a queue file
//! (`POSTERN1 {envelope JSON}\n` and the message) in the fixture site's spool, optionally with a
//! state file, and one delivery attempt runs on it — local recipients into their maildirs,
//! remote ones to a gateway that refuses connections, bounces and delay notices into the spool.

use std::sync::Arc;

use postern::queue::deliver::{Deliverer, Outcome};
use postern::queue::spool::{Area, QueueId, Spool};
use postern::store::users::UsersCache;

use super::{quiet, site::Site};

const ID: &str = "0123456789ABCDEFGH";

/// The first byte: bit 0 set means the input holds a state file (JSON) before the first NUL
/// byte, and the queue file after it; otherwise all of it is the queue file.
pub fn deliver(data: &[u8]) {
    quiet();
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let (state, queue_file) = match rest.iter().position(|&b| b == 0) {
        Some(i) if flags & 1 == 1 => (Some(&rest[..i]), &rest[i + 1..]),
        _ => (None, rest),
    };
    let site = Site::new();
    let root = site.config.paths.spool.clone();
    let spool = Arc::new(Spool::open(&root).expect("spool"));
    let id = QueueId::parse(ID).expect("queue id");
    std::fs::write(root.join("queue").join(ID), queue_file).expect("queue file");
    if let Some(state) = state {
        std::fs::write(root.join("state").join(format!("{ID}.json")), state).expect("state");
    }
    // Reading without a lock, as `queue ls` does.
    if let Ok(msg) = spool.peek(Area::Queue, &id) {
        let body = msg.read_body().expect("the body of a message just read");
        assert_eq!(
            body.len() as u64 + msg.body_offset,
            queue_file.len() as u64,
            "envelope and body do not add up to the file"
        );
        assert_eq!(
            msg.state.recipients.len(),
            msg.envelope.recipients.len(),
            "the state has a status for each recipient"
        );
    }
    let users = Arc::new(UsersCache::new(&site.config.paths.users).expect("users"));
    let deliverer = Deliverer::new(site.config.clone(), spool.clone(), users);
    let outcome = deliverer.attempt(&id, true);
    let queued = root.join("queue").join(ID).exists();
    match outcome {
        Ok(Outcome::Finished) => assert!(!queued, "a finished message is still queued"),
        Ok(Outcome::Deferred) => assert!(queued, "a deferred message left the queue"),
        Ok(Outcome::Skipped) | Ok(Outcome::NotDue) => panic!("{outcome:?} with force"),
        Err(_) => {}
    }
    // The bounces and notices it queued are queue files the reader takes back, each with a
    // header of CRLF lines of at most 998 octets (RFC 5322 §2.1.1), whatever the envelope held.
    for other in spool.list(Area::Queue).expect("queue listing") {
        if other.as_str() == ID {
            continue;
        }
        let notice = spool
            .peek(Area::Queue, &other)
            .expect("a notification postern wrote reads back");
        let body = notice.read_body().expect("notification body");
        super::show("notification", &body);
        for line in body.split_inclusive(|&b| b == b'\n') {
            if line == b"\r\n" {
                break;
            }
            let text = line.strip_suffix(b"\r\n").unwrap_or_else(|| {
                panic!(
                    "header line without CRLF: {:?}",
                    String::from_utf8_lossy(line)
                )
            });
            assert!(
                !text.contains(&b'\r') && text.len() <= 998,
                "bad header line {:?}",
                String::from_utf8_lossy(text)
            );
        }
    }
}
