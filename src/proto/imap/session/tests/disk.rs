//! Transcript tests on real maildirs: what the maildir store does on disk, and the state it
//! shares with POP3 and with other sessions of the process.

use super::*;
use crate::proto::pop3::maildrop::Maildrop as _;

impl T<MaildirStore> {
    /// A session on a maildir volume in a new temporary directory.
    fn disk(tls: bool) -> (tempfile::TempDir, T<MaildirStore>) {
        let dir = tempfile::tempdir().unwrap();
        let store = MaildirStore::new(dir.path());
        let t = T {
            s: session(store.clone(), tls),
            store,
        };
        (dir, t)
    }
}

/// alice's INBOX maildir under the volume `dir`.
fn inbox(dir: &tempfile::TempDir) -> std::path::PathBuf {
    dir.path().join("alice")
}

#[test]
fn first_login_makes_the_special_use_maildirs() {
    let (dir, mut t) = T::disk(true);
    let r = t.send("a LOGIN alice secret\r\n");
    assert!(r.starts_with("a OK"), "{r}");
    for folder in ["Sent", "Drafts", "Trash", "Junk", "Archive"] {
        assert!(
            inbox(&dir).join(format!(".{folder}/cur")).is_dir(),
            "{folder}"
        );
        let uses =
            std::fs::read_to_string(inbox(&dir).join(format!(".{folder}/postern-special-use")));
        assert_eq!(uses.unwrap(), format!("\\{folder}\n"));
    }
    let subs = std::fs::read_to_string(inbox(&dir).join("postern-subscriptions")).unwrap();
    assert_eq!(subs, "Sent\nDrafts\nTrash\nJunk\nArchive\n");
    assert!(inbox(&dir).join("postern-imap-init").exists());
}

#[test]
fn literals_limits_and_bad_input_keep_the_session_usable() {
    let (dir, mut t) = T::disk(true);
    let r = t.send("a LOGIN {5}\r\n");
    assert_eq!(r, "+ Ready for literal data\r\n");
    let r = t.send("alice secret\r\n");
    assert!(r.starts_with("a OK"), "{r}");
    let r = t.send("b APPEND INBOX {99999999999}\r\n");
    assert!(
        r.starts_with(
            "b NO [TOOBIG] message of 99999999999 octets is larger than the APPEND limit of"
        ),
        "{r}"
    );
    let r = t.send("c CREATE ../../etc\r\nd SELECT \"a/../b\"\r\ne FETCH (\r\nf NOOP\r\n");
    assert!(r.contains("c NO [CANNOT] Invalid mailbox name"), "{r}");
    assert!(r.contains("d NO [CANNOT] Invalid mailbox name"), "{r}");
    assert!(r.contains("e BAD"), "{r}");
    assert!(r.contains("f OK NOOP completed"), "{r}");
    assert!(!dir.path().join("etc").exists());
    let r = t.send("g APPEND INBOX (\\Seen) {11+}\r\nSubject: x\n\r\n");
    assert!(r.starts_with("g OK [APPENDUID "), "{r}");
}

#[test]
fn updates_arrive_at_the_right_moments_with_a_pop3_deletion() {
    let (dir, mut t) = T::disk(true);
    t.send("a LOGIN alice secret\r\n");
    for i in 0..3 {
        t.deliver(&format!("m{i}"));
    }
    let r = t.send("b SELECT INBOX\r\n");
    assert!(r.contains("* 3 EXISTS\r\n* 3 RECENT\r\n"), "{r}");
    assert!(r.contains("b OK [READ-WRITE] SELECT completed"), "{r}");

    // popd deletes message 2 while imapd has the mailbox selected.
    let mut maildrop = crate::access::pop3::maildir_drop::MaildirMaildrop::open(
        crate::store::maildir::Maildir::open(inbox(&dir)).unwrap(),
    )
    .unwrap();
    assert_eq!(maildrop.delete(&[1]).unwrap(), 1);
    drop(maildrop);
    t.deliver("m3");
    std::thread::sleep(std::time::Duration::from_millis(20));

    // FETCH and SEARCH never carry EXPUNGE (RFC 3501 §7.4.1); EXISTS may come.
    let r = t.send("c FETCH 1:3 (UID)\r\n");
    assert!(!r.contains("EXPUNGE"), "{r}");
    assert!(r.contains("* 4 EXISTS"), "{r}");
    let r = t.send("d SEARCH ALL\r\n");
    assert!(!r.contains("EXPUNGE"), "{r}");
    // NOOP delivers it; UIDs stay what they were.
    let r = t.send("e NOOP\r\n");
    assert!(r.starts_with("* 2 EXPUNGE\r\n"), "{r}");
    let r = t.send("f UID SEARCH ALL\r\n");
    assert!(r.starts_with("* SEARCH 1 3 4\r\n"), "{r}");
    let r = t.send("g FETCH 3 (UID FLAGS)\r\n");
    assert!(r.starts_with("* 3 FETCH (UID 4 FLAGS (\\Recent))"), "{r}");
}

#[test]
fn cache_serves_envelopes_and_follows_changes() {
    let (dir, mut t) = T::disk(true);
    t.send("a LOGIN alice secret\r\n");
    t.deliver("cached one");
    t.send("b SELECT INBOX\r\n");
    let first = t.send("c FETCH 1 (ENVELOPE)\r\n");
    assert!(first.contains("\"cached one\""), "{first}");
    let cache = inbox(&dir).join(crate::store::maildir::cache::CACHE_FILE);
    assert!(cache.exists());
    // Same answer from the cache, in a new session.
    let mut u = T {
        s: Session::new(SessionConfig {
            tls_active: true,
            ..SessionConfig::new("mx.test", dir.path())
        }),
        store: t.store.clone(),
    };
    u.send("a LOGIN alice secret\r\nb SELECT INBOX\r\n");
    assert_eq!(u.send("c FETCH 1 (ENVELOPE)\r\n"), first);
}

/// Sets the modification time of `path` (a directory or file) 10 s back.
fn backdate(path: &std::path::Path) {
    let when = std::time::SystemTime::now() - std::time::Duration::from_secs(10);
    std::fs::File::open(path)
        .and_then(|f| f.set_modified(when))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

#[test]
fn sessions_on_a_settled_mailbox_share_one_message_list() {
    use std::sync::Arc;
    let (dir, mut t) = T::disk(true);
    t.send("a LOGIN alice secret\r\n");
    for i in 0..3 {
        t.deliver(&format!("s{i}"));
    }
    t.send("b SELECT INBOX\r\n");
    let settle = |_: &T<MaildirStore>| {
        for p in ["new", "cur", "postern-state", "postern-state.log"] {
            if inbox(&dir).join(p).exists() {
                backdate(&inbox(&dir).join(p));
            }
        }
    };
    settle(&t);
    t.send("c NOOP\r\n");
    let list = |t: &T<MaildirStore>| t.s.selected.as_ref().unwrap().messages.clone();

    // A second session on the unchanged mailbox takes the first one's list, no scan.
    let mut u = t.other();
    let r = u.send("b SELECT INBOX\r\n");
    assert!(r.contains("* 3 EXISTS\r\n* 0 RECENT\r\n"), "{r}");
    assert!(Arc::ptr_eq(&list(&t), &list(&u)));

    // A change gives the changing session its own list; the other learns of it as usual.
    let r = u.send("c STORE 2 +FLAGS (\\Flagged)\r\n");
    assert!(r.contains("* 2 FETCH (FLAGS (\\Flagged))"), "{r}");
    assert!(!Arc::ptr_eq(&list(&t), &list(&u)));
    let r = t.send("d NOOP\r\n");
    assert!(r.contains("* 2 FETCH (FLAGS (\\Flagged \\Recent))"), "{r}");
    // Settled again, the lists are one again after a refresh, and a new session agrees.
    settle(&t);
    t.send("e NOOP\r\n");
    u.send("d NOOP\r\n");
    assert!(Arc::ptr_eq(&list(&t), &list(&u)));
    let mut v = t.other();
    let r = v.send("b FETCH 1:* (UID FLAGS)\r\nc SELECT INBOX\r\nd FETCH 1:* (UID FLAGS)\r\n");
    assert!(r.contains("* 2 FETCH (UID 2 FLAGS (\\Flagged))\r\n"), "{r}");
    assert!(Arc::ptr_eq(&list(&t), &list(&v)));
    // A delivery is never hidden by a shared list: the stamp moved, SELECT scans.
    t.deliver("s3");
    let mut w = t.other();
    let r = w.send("b SELECT INBOX\r\n");
    assert!(r.contains("* 4 EXISTS\r\n* 1 RECENT\r\n"), "{r}");
}

#[test]
fn quiet_sessions_settle_into_the_shared_list_without_hiding_changes() {
    use std::sync::Arc;
    let (dir, mut t) = T::disk(true);
    t.send("a LOGIN alice secret\r\n");
    for i in 0..3 {
        t.deliver(&format!("q{i}"));
    }
    t.send("b SELECT INBOX\r\n");
    let mut u = t.other();
    u.send("b SELECT INBOX\r\n");
    let list = |t: &T<MaildirStore>| t.s.selected.as_ref().unwrap().messages.clone();
    // The first synced the fresh mailbox; the second took that list instead of scanning, and
    // once the file clock has passed the change (a tick) its next look checks and trusts it.
    assert!(Arc::ptr_eq(&list(&t), &list(&u)));
    std::thread::sleep(std::time::Duration::from_millis(30));
    u.send("b2 NOOP\r\n");
    assert!(u.s.idle_settled());
    assert!(Arc::ptr_eq(&list(&t), &list(&u)));
    let settle = |_: &T<MaildirStore>| {
        for p in ["new", "cur", "postern-state", "postern-state.log"] {
            if inbox(&dir).join(p).exists() {
                backdate(&inbox(&dir).join(p));
            }
        }
    };
    // Quiet for a while: nothing to settle or give up.
    let sel = |t: &mut T<MaildirStore>| t.s.selected.as_mut().unwrap().settle_quietly();
    assert!(!sel(&mut t));
    assert!(Arc::ptr_eq(&list(&t), &list(&u)));

    // A session that selected right after a delivery, and another delivery before it is
    // quiet: settling leaves that one (and its \Recent) for the next command.
    t.deliver("q3");
    let mut v = t.other();
    let r = v.send("b SELECT INBOX\r\n");
    assert!(r.contains("* 4 EXISTS\r\n* 1 RECENT\r\n"), "{r}");
    // Its list is checked a clock tick later, at its next look.
    std::thread::sleep(std::time::Duration::from_millis(30));
    v.send("b2 NOOP\r\n");
    assert!(v.s.idle_settled());
    assert!(Arc::ptr_eq(&list(&t), &list(&u)), "the others keep theirs");
    t.deliver("q4");
    settle(&t);
    assert!(!sel(&mut v));
    let r = v.send("c NOOP\r\n");
    assert!(r.starts_with("* 5 EXISTS\r\n* 2 RECENT\r\n"), "{r}");
    // Quiet again with nothing new: now it settles.
    settle(&t);
    sel(&mut v);
    assert!(v.s.idle_settled());
}

#[test]
fn a_whole_message_fetch_records_the_sizes_it_computed() {
    let (dir, mut t) = T::disk(true);
    t.send("a LOGIN alice secret\r\n");
    // Written straight into new/ by something that knows no sizes (not postern's delivery).
    for (i, subject) in ["size one", "size two"].iter().enumerate() {
        let name = format!("17000000{i}.other{i}.host");
        std::fs::write(
            inbox(&dir).join("new").join(name),
            format!("Subject: {subject}\n\nbody\n"),
        )
        .unwrap();
    }
    t.send("b SELECT INBOX\r\n");
    // The checkpoint, then the journal's records (the last record of a UID wins).
    let state = || {
        let read = |name: &str| std::fs::read_to_string(inbox(&dir).join(name)).unwrap_or_default();
        read(crate::store::maildir::STATE_FILE) + &read(crate::store::maildir::JOURNAL_FILE)
    };
    let sizes = |text: &str| -> Vec<String> {
        let mut by_uid = std::collections::BTreeMap::new();
        for l in text.lines().filter(|l| l.starts_with("m ")) {
            let f: Vec<&str> = l.split(' ').collect();
            by_uid.insert(f[1].to_string(), f[4].to_string());
        }
        by_uid.into_values().collect()
    };
    assert_eq!(sizes(&state()), ["-", "-"], "no sizes before");
    let r = t.send("c UID FETCH 1:* (RFC822.SIZE BODY.PEEK[])\r\n");
    // "Subject: size one\n\nbody\n" is 24 bytes with 3 LFs: 27 with CRLF line ends.
    assert!(
        r.contains("* 1 FETCH (UID 1 RFC822.SIZE 27 BODY[] {27}\r\n"),
        "{r}"
    );
    assert!(
        r.contains("* 2 FETCH (UID 2 RFC822.SIZE 27 BODY[] {27}\r\n"),
        "{r}"
    );
    // Kept until the client is quiet (a write of the state file per FETCH would cost more).
    assert_eq!(sizes(&state()), ["-", "-"], "not yet");
    assert!(t.s.wants_settle());
    t.s.settle();
    assert_eq!(
        sizes(&state()),
        ["27", "27"],
        "computed once, while sending"
    );
    let r = t.send("d FETCH 1:* (RFC822.SIZE)\r\n");
    assert_eq!(
        r,
        "* 1 FETCH (RFC822.SIZE 27)\r\n* 2 FETCH (RFC822.SIZE 27)\r\nd OK FETCH completed\r\n"
    );
}

#[test]
fn sort_and_thread_read_only_the_header_block() {
    use crate::proto::imap::mailbox_name::MailboxName;
    use crate::proto::imap::store::{Account as _, MailStore as _, Mailbox as _};
    let (dir, mut t) = T::disk(true);
    t.send("a LOGIN alice secret\r\n");
    // A header longer than one 16 KiB read, then a 2 MB body; and a small message.
    let pad = "x".repeat(40 * 1024);
    let big_header = format!("Subject: beta\nX-Pad: {pad}\n\n");
    let big = format!("{big_header}{}", "body line\n".repeat(200_000));
    let dirs = inbox(&dir).join("new");
    std::fs::write(dirs.join("1700000000.big.host"), &big).unwrap();
    std::fs::write(
        dirs.join("1700000001.small.host"),
        "Subject: alpha\n\nsmall\n",
    )
    .unwrap();
    // The store's header read stops at the empty line.
    let account = t.store.open("alice").unwrap();
    let mut mailbox = account.mailbox(&MailboxName::inbox()).unwrap();
    let snap = mailbox.sync().unwrap();
    let header = mailbox.read_header(&snap.messages[0], 1 << 20).unwrap();
    assert_eq!(header, big_header.as_bytes());
    let header = mailbox.read_header(&snap.messages[1], 1 << 20).unwrap();
    assert_eq!(header, b"Subject: alpha\n\n");
    // A limit cuts a header that never ends.
    assert_eq!(
        mailbox.read_header(&snap.messages[0], 100).unwrap().len(),
        100
    );
    t.send("b SELECT INBOX\r\n");
    let r = t.send("c SORT (SUBJECT) UTF-8 ALL\r\n");
    assert!(r.starts_with("* SORT 2 1\r\nc OK"), "{r}");
    let r = t.send("d THREAD ORDEREDSUBJECT UTF-8 SUBJECT alpha\r\n");
    assert!(r.starts_with("* THREAD (2)\r\nd OK"), "{r}");
    // SIZE with no size known yet reads the messages whole, and sorts by the CRLF size.
    let r = t.send("e SORT (REVERSE SIZE) UTF-8 ALL\r\nf UID SORT (SIZE) UTF-8 ALL\r\n");
    assert!(r.contains("* SORT 1 2\r\ne OK"), "{r}");
    assert!(r.contains("* SORT 2 1\r\nf OK"), "{r}");
}

/// The literals of `* n FETCH (... BODY[] {len}\r\n<bytes>)` in a FETCH response, in order.
fn body_literals(r: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut rest = r;
    while let Some(at) = rest.windows(7).position(|w| w == b"BODY[] ") {
        rest = &rest[at + 7..];
        assert_eq!(rest[0], b'{', "{}", String::from_utf8_lossy(rest));
        let close = rest.iter().position(|&b| b == b'}').unwrap();
        let len: usize = std::str::from_utf8(&rest[1..close])
            .unwrap()
            .parse()
            .unwrap();
        rest = &rest[close + 3..];
        out.push(rest[..len].to_vec());
        rest = &rest[len..];
        assert!(
            rest.starts_with(b")\r\n"),
            "{}",
            String::from_utf8_lossy(rest)
        );
    }
    out
}

#[test]
fn a_fetch_reads_each_message_whole_into_its_one_buffer_and_no_bytes_of_the_one_before() {
    let (dir, mut t) = T::disk(true);
    t.send("a LOGIN alice secret\r\n");
    // Long, short, long with bare LFs, empty, short: a reused buffer that kept anything of
    // the message before would show in the next literal. Then enough 5 KB messages that the
    // FETCH takes several steps (output buffers handed back and filled again).
    let mut sent: Vec<Vec<u8>> = vec![
        [&b"Subject: long\r\n\r\n"[..], &b"x".repeat(20_000), b"\r\n"].concat(),
        b"Subject: s\r\n\r\nhi\r\n".to_vec(),
        [&b"Subject: lf\n\n"[..], &b"line\n".repeat(3000)].concat(),
        Vec::new(),
        b"Subject: t\r\n\r\nyo\r\n".to_vec(),
    ];
    for i in 0..80u8 {
        let line = format!("message {i} {}\r\n", "y".repeat(60));
        sent.push(format!("Subject: m{i}\r\n\r\n{}", line.repeat(80)).into_bytes());
    }
    for (i, bytes) in sent.iter().enumerate() {
        let name = format!("17000{i:05}.M{i}.host");
        std::fs::write(inbox(&dir).join("new").join(name), bytes).unwrap();
    }
    t.send("b EXAMINE INBOX\r\n");
    t.s.receive(b"c UID FETCH 1:* (FLAGS RFC822.SIZE BODY.PEEK[])\r\n");
    let (mut all, mut steps) = (Vec::new(), 0);
    loop {
        let step = t.s.step(&Creds);
        all.extend_from_slice(&step.output);
        steps += 1;
        if step.action != Action::Continue {
            break;
        }
        t.s.recycle(step.output);
    }
    assert!(steps > 1, "one step only: {steps}");
    let want: Vec<Vec<u8>> = sent
        .iter()
        .map(|b| crate::proto::imap::message::to_crlf(b).into_owned())
        .collect();
    assert_eq!(body_literals(&all), want);
    let text = String::from_utf8_lossy(&all);
    assert!(
        text.contains("* 3 FETCH (UID 3 FLAGS (\\Recent) RFC822.SIZE 18015 BODY[] {18015}\r\n"),
        "{text:.300}"
    );
    assert!(
        text.contains("* 4 FETCH (UID 4 FLAGS (\\Recent) RFC822.SIZE 0 BODY[] {0}\r\n)"),
        "{text:.300}"
    );
    assert!(
        text.ends_with("c OK FETCH completed\r\n"),
        "{}",
        &text[text.len() - 100..]
    );
}

#[test]
fn a_message_renamed_by_another_process_is_still_read_through_the_open_directories() {
    use crate::proto::imap::mailbox_name::MailboxName;
    use crate::proto::imap::store::{Account as _, MailStore as _, Mailbox as _};
    let (dir, t) = T::disk(true);
    t.deliver("renamed");
    t.deliver("kept");
    let account = t.store.open("alice").unwrap();
    let mut mailbox = account.mailbox(&MailboxName::inbox()).unwrap();
    let snap = mailbox.sync().unwrap();
    let mut buf = b"stale bytes of an earlier message".to_vec();
    mailbox
        .read_into(&snap.messages[0], 1 << 20, &mut buf)
        .unwrap();
    let (first, kept) = if buf.starts_with(b"Subject: renamed") {
        (&snap.messages[0], &snap.messages[1])
    } else {
        (&snap.messages[1], &snap.messages[0])
    };
    mailbox.read_into(kept, 1 << 20, &mut buf).unwrap();
    assert_eq!(buf, b"Subject: kept\n\nbody\n");
    // Another process sets \Seen: the file moves from new/ to cur/ under a new name.
    let old = inbox(&dir).join("new").join(&*first.file_name);
    let new = inbox(&dir)
        .join("cur")
        .join(format!("{}:2,S", first.file_name));
    std::fs::rename(&old, &new).unwrap();
    mailbox.read_into(first, 1 << 20, &mut buf).unwrap();
    assert_eq!(buf, b"Subject: renamed\n\nbody\n");
    std::fs::remove_file(&new).unwrap();
    let gone = mailbox.read_into(first, 1 << 20, &mut buf).unwrap_err();
    assert_eq!(gone.kind(), std::io::ErrorKind::NotFound);
    // Limits still hold.
    mailbox.read_into(kept, 7, &mut buf).unwrap();
    assert_eq!(buf, b"Subject");
}
