//! Tests of the mailbox state on real temporary directories.

use std::fs;
use std::time::Instant;

use std::sync::Arc;

use super::{FlagOp, MailboxState};
use crate::store::maildir::flags::{Flag, Flags};
use crate::store::maildir::layout::Maildir;
use crate::store::maildir::name;
use crate::store::maildir::statefile::STATE_FILE;

fn setup() -> (tempfile::TempDir, Maildir) {
    let dir = tempfile::tempdir().unwrap();
    let md = Maildir::create(dir.path().join("user")).unwrap();
    (dir, md)
}

/// Delivers like local delivery does: straight into new/ with `,S=`.
fn deliver(md: &Maildir, secs: i64, tag: &str, body: &[u8]) -> String {
    let base = format!("{secs}.{tag}.host,S={}", body.len());
    fs::write(md.new_dir().join(&base), body).unwrap();
    base
}

fn uids(st: &mut MailboxState) -> Vec<(u32, String)> {
    st.sync()
        .unwrap()
        .messages
        .into_iter()
        .map(|m| (m.uid, m.base().to_string()))
        .collect()
}

#[test]
fn sync_orders_new_mail_and_leaves_it_in_new_until_its_flags_change() {
    let (_d, md) = setup();
    let b = deliver(&md, 200, "b", b"two\n");
    let a = deliver(&md, 100, "z", b"one\n");
    let c = deliver(&md, 200, "a", b"three\n");
    let mut st = MailboxState::new(md.clone());
    let snap = st.sync().unwrap();
    let got: Vec<(u32, &str)> = snap.messages.iter().map(|m| (m.uid, m.base())).collect();
    assert_eq!(got, vec![(1, a.as_str()), (2, c.as_str()), (3, b.as_str())]);
    assert_eq!(snap.recent, vec![1, 2, 3]);
    assert_eq!(snap.uidnext, 4);
    assert_eq!(
        fs::read_dir(md.new_dir()).unwrap().count(),
        3,
        "nothing renamed"
    );
    assert!(snap.messages.iter().all(|m| m.in_new));
    assert_eq!(snap.messages[0].size, 4);
    assert_eq!(snap.messages[0].internal_date, 100);
    // second sync: same UIDs, nothing recent, nothing rewritten
    let again = st.sync().unwrap();
    assert!(again.recent.is_empty());
    assert_eq!(again.highestmodseq, snap.highestmodseq);
    assert_eq!(again.uidvalidity, snap.uidvalidity);
    // A flag change moves the message to cur/, with its flags.
    st.set_flags(1, Flags::from_flags(&[Flag::Seen])).unwrap();
    assert!(md.cur().join(format!("{a}:2,S")).exists());
    let after = st.sync().unwrap();
    assert!(!after.messages[0].in_new && after.messages[1].in_new);
    assert!(after.messages[0].flags.contains(Flag::Seen));
    assert!(after.recent.is_empty());
}

#[test]
fn size_and_date_from_stat_when_name_lacks_them() {
    let (_d, md) = setup();
    fs::write(md.cur().join("oddname:2,S"), b"12345").unwrap();
    let mut st = MailboxState::new(md);
    let snap = st.sync().unwrap();
    assert_eq!(snap.messages[0].size, 5);
    assert!(snap.messages[0].internal_date > 1_600_000_000);
    assert!(snap.messages[0].flags.contains(Flag::Seen));
}

#[test]
fn flags_survive_renames_by_other_processes() {
    let (_d, md) = setup();
    let base = deliver(&md, 1, "a", b"x\n");
    let mut st = MailboxState::new(md.clone());
    let before = st.sync().unwrap();
    let m0 = before.messages[0].modseq;
    fs::rename(
        md.new_dir().join(&base),
        md.cur().join(format!("{base}:2,FS")),
    )
    .unwrap();
    let after = st.sync().unwrap();
    assert_eq!(after.messages.len(), 1);
    let m = &after.messages[0];
    assert_eq!(m.uid, 1);
    assert!(m.flags.contains(Flag::Seen) && m.flags.contains(Flag::Flagged));
    assert!(m.modseq > m0);
    assert_eq!(after.highestmodseq, m.modseq);
}

#[test]
fn uids_are_never_reused() {
    let (_d, md) = setup();
    let mut st = MailboxState::new(md.clone());
    deliver(&md, 1, "a", b"1");
    deliver(&md, 2, "b", b"2");
    let c = deliver(&md, 3, "c", b"3");
    st.sync().unwrap();
    fs::remove_file(md.new_dir().join(&c)).unwrap(); // removed behind our back
    assert_eq!(uids(&mut st).len(), 2);
    assert_eq!(st.expunge(&[2]).unwrap(), vec![2]);
    let d = deliver(&md, 0, "d", b"4");
    let got = uids(&mut st);
    assert_eq!(got, vec![(1, got[0].1.clone()), (4, d)]);
    // a fresh handle (another process) sees the same
    assert_eq!(uids(&mut MailboxState::new(md)), got);
}

#[test]
fn store_flags_with_keywords_and_unchangedsince() {
    let (_d, md) = setup();
    for i in 0..3 {
        deliver(&md, i, &format!("m{i}"), b"x");
    }
    let mut st = MailboxState::new(md.clone());
    let snap = st.sync().unwrap();
    let mut add = Flags::from_flags(&[Flag::Seen]);
    add.insert_keyword("$Junk").unwrap();
    let out = st
        .store_flags(&[1, 2, 99], &FlagOp::Add(add), None)
        .unwrap();
    assert_eq!(out.missing, vec![99]);
    assert_eq!(out.stored.len(), 2);
    let modseq = out.stored[0].2;
    assert!(modseq > snap.highestmodseq);
    let snap = st.sync().unwrap();
    assert_eq!(snap.keywords, vec!["$Junk".to_string()]);
    assert!(
        snap.messages[0].file_name.ends_with(":2,Sa"),
        "{}",
        snap.messages[0].file_name
    );
    assert!(snap.messages[1].flags.has_keyword("$Junk"));
    assert!(!snap.messages[2].flags.contains(Flag::Seen));

    // UNCHANGEDSINCE below message 1's modseq: refused; message 3 untouched since start
    let out = st
        .store_flags(
            &[1, 3],
            &FlagOp::Remove(Flags::from_flags(&[Flag::Seen])),
            Some(modseq - 1),
        )
        .unwrap();
    assert_eq!(out.modified, vec![1]);
    assert_eq!(out.stored.len(), 1);
    assert!(st.set_flags(1, Flags::new()).unwrap());
    let snap = st.sync().unwrap();
    assert_eq!(snap.messages[0].flags, Flags::new());
    assert!(!st.set_flags(42, Flags::new()).unwrap());
}

#[test]
fn store_follows_a_file_renamed_by_another_process() {
    let (_d, md) = setup();
    let base = deliver(&md, 1, "a", b"x");
    let mut st = MailboxState::new(md.clone());
    st.sync().unwrap();
    fs::rename(
        md.new_dir().join(&base),
        md.cur().join(format!("{base}:2,F")),
    )
    .unwrap();
    let out = st
        .store_flags(&[1], &FlagOp::Add(Flags::from_flags(&[Flag::Seen])), None)
        .unwrap();
    assert!(out.missing.is_empty());
    assert!(
        md.cur().join(format!("{base}:2,FS")).exists(),
        "Add applied to the current flags"
    );
}

#[test]
fn deletion_by_another_process_is_not_an_error() {
    let (_d, md) = setup();
    let base = deliver(&md, 1, "a", b"x");
    let mut st = MailboxState::new(md.clone());
    let snap = st.sync().unwrap();
    fs::remove_file(md.new_dir().join(&base)).unwrap();
    assert!(st.open_message(&snap.messages[0]).unwrap().is_none());
    let out = st
        .store_flags(&[1], &FlagOp::Add(Flags::from_flags(&[Flag::Seen])), None)
        .unwrap();
    assert_eq!(out.missing, vec![1]);
    assert_eq!(st.expunge(&[1]).unwrap(), vec![1]);
    assert!(st.sync().unwrap().messages.is_empty());
}

#[test]
fn open_message_follows_rename() {
    let (_d, md) = setup();
    let base = deliver(&md, 1, "a", b"hello");
    let mut st = MailboxState::new(md.clone());
    let snap = st.sync().unwrap();
    fs::rename(
        md.new_dir().join(&base),
        md.cur().join(format!("{base}:2,S")),
    )
    .unwrap();
    let mut f = st.open_message(&snap.messages[0]).unwrap().unwrap();
    let mut s = String::new();
    std::io::Read::read_to_string(&mut f, &mut s).unwrap();
    assert_eq!(s, "hello");
}

#[test]
fn append_and_copy() {
    let (_d, md) = setup();
    let sent = md.create_folder("Sent").unwrap();
    let mut inbox = MailboxState::new(md.clone());
    let mut flags = Flags::from_flags(&[Flag::Seen]);
    flags.insert_keyword("Work").unwrap();
    let uid = inbox.append(b"a\nb\n", &flags, Some(1_000_000)).unwrap();
    assert_eq!(uid, 1);
    let snap = inbox.sync().unwrap();
    assert!(
        snap.recent.is_empty(),
        "append is not reported as new by sync"
    );
    let m = &snap.messages[0];
    assert_eq!((m.size, m.vsize, m.internal_date), (4, Some(6), 1_000_000));
    assert_eq!(m.flags, flags);
    assert_eq!(name::time_field(m.base()), Some(1_000_000));

    let mut target = MailboxState::new(sent.clone());
    let mut other = Flags::new();
    other.insert_keyword("Other").unwrap();
    target.append(b"x", &other, None).unwrap(); // target's table: a = Other
    let pairs = inbox.copy_to(&[1, 7], &mut target).unwrap();
    assert_eq!(pairs, vec![(1, 2)]);
    let t = target.sync().unwrap();
    let copied = t.get(2).unwrap();
    assert_eq!(copied.flags, flags);
    assert!(copied.file_name.ends_with(":2,Sb"), "{}", copied.file_name);
    assert_eq!(copied.internal_date, 1_000_000);
    assert_eq!(fs::read(copied.path(&sent)).unwrap(), b"a\nb\n");
    assert!(
        fs::read_dir(sent.tmp()).unwrap().next().is_none(),
        "tmp/ clean"
    );
}

#[test]
fn move_renames_each_message_once_with_flags_and_new_uids() {
    let (_d, md) = setup();
    let trash = md.create_folder("Trash").unwrap();
    for i in 0..5 {
        deliver(
            &md,
            1_000 + i,
            &format!("m{i}"),
            format!("body {i}\n").as_bytes(),
        );
    }
    let mut inbox = MailboxState::new(md.clone());
    inbox.sync().unwrap();
    let mut flags = Flags::from_flags(&[Flag::Flagged]);
    flags.insert_keyword("Work").unwrap();
    assert!(inbox.set_flags(2, flags.clone()).unwrap());
    let mut target = MailboxState::new(trash.clone());
    let mut other = Flags::new();
    other.insert_keyword("Other").unwrap();
    target.append(b"x", &other, None).unwrap(); // target's keyword a = Other
    let moved = inbox.move_to(&[4, 2, 9, 2], &mut target).unwrap();
    assert_eq!(moved.pairs, vec![(2, 2), (4, 3)]);
    assert!(moved.elsewhere.is_empty());
    // Gone from the INBOX (state and files), there in Trash once, with flags and dates.
    let left: Vec<u32> = inbox
        .sync()
        .unwrap()
        .messages
        .iter()
        .map(|m| m.uid)
        .collect();
    assert_eq!(left, vec![1, 3, 5]);
    let files = |d: std::path::PathBuf| fs::read_dir(d).unwrap().count();
    assert_eq!(files(md.cur()) + files(md.new_dir()), 3);
    let t = target.sync().unwrap();
    assert!(
        t.recent.is_empty(),
        "recorded by the move, not found by a sync"
    );
    assert_eq!(t.messages.len(), 3);
    let m = t.get(2).unwrap();
    assert_eq!(m.flags, flags);
    assert!(m.file_name.ends_with(":2,Fb"), "{}", m.file_name);
    assert_eq!(m.internal_date, 1_001);
    assert_eq!(fs::read(m.path(&trash)).unwrap(), b"body 1\n");
    assert!(fs::read_dir(trash.tmp()).unwrap().next().is_none());
    // Into the same mailbox: new UIDs there, one file each.
    let again = target
        .move_to(&[2], &mut MailboxState::new(trash.clone()))
        .unwrap();
    assert_eq!(again.pairs, vec![(2, 4)]);
    let uids: Vec<u32> = target
        .sync()
        .unwrap()
        .messages
        .iter()
        .map(|m| m.uid)
        .collect();
    assert_eq!(uids, vec![1, 3, 4]);
    assert_eq!(fs::read_dir(trash.cur()).unwrap().count(), 3);
}

#[test]
fn an_interrupted_move_leaves_each_message_in_one_place() {
    // The renames done, the states not yet written (as after a kill -9 there): each mailbox's
    // next sync agrees with its files.
    let (_d, md) = setup();
    let trash = md.create_folder("Trash").unwrap();
    for i in 0..4 {
        deliver(&md, 1_000 + i, &format!("m{i}"), b"x");
    }
    let mut inbox = MailboxState::new(md.clone());
    let before = inbox.sync().unwrap();
    let mut target = MailboxState::new(trash.clone());
    target.sync().unwrap();
    for m in &before.messages[..2] {
        fs::rename(m.path(&md), trash.cur().join(&*m.file_name)).unwrap();
    }
    let mut inbox = MailboxState::new(md.clone());
    let mut target = MailboxState::new(trash.clone());
    let a = inbox.sync().unwrap();
    let b = target.sync().unwrap();
    assert_eq!(a.messages.len() + b.messages.len(), 4);
    assert_eq!(
        a.messages.iter().map(|m| m.uid).collect::<Vec<_>>(),
        vec![3, 4]
    );
    assert_eq!(b.messages.len(), 2);
}

#[test]
fn virtual_sizes_are_computed_once_and_cached() {
    let (_d, md) = setup();
    deliver(&md, 1, "a", b"l1\nl2\r\nl3\n");
    let mut st = MailboxState::new(md.clone());
    let mut snap = st.sync().unwrap();
    assert_eq!(snap.messages[0].vsize, None);
    st.fill_virtual_sizes(&mut snap).unwrap();
    assert_eq!(snap.messages[0].vsize, Some(12));
    let again = MailboxState::new(md).sync().unwrap();
    assert_eq!(again.messages[0].vsize, Some(12));
}

#[test]
fn damaged_state_is_rebuilt_with_new_uidvalidity() {
    let (_d, md) = setup();
    deliver(&md, 1, "a", b"x");
    fs::write(md.path().join(STATE_FILE), b"garbage").unwrap();
    let mut st = MailboxState::new(md.clone());
    let snap = st.sync().unwrap();
    assert_eq!(snap.messages.len(), 1);
    assert!(snap.uidvalidity > 0);
    let again = MailboxState::new(md).sync().unwrap();
    assert_eq!(
        again.uidvalidity, snap.uidvalidity,
        "rebuilt state persisted"
    );
}

#[test]
fn handles_see_each_others_changes() {
    let (_d, md) = setup();
    let mut a = MailboxState::new(md.clone());
    let mut b = MailboxState::new(md.clone());
    deliver(&md, 1, "a", b"x");
    assert_eq!(a.sync().unwrap().messages.len(), 1);
    b.set_flags(1, Flags::from_flags(&[Flag::Deleted])).unwrap();
    let snap = a.snapshot().unwrap();
    assert!(
        snap.messages[0].flags.contains(Flag::Deleted),
        "cache invalidated"
    );
    b.expunge(&[1]).unwrap();
    assert!(a.sync().unwrap().messages.is_empty());
}

#[test]
fn concurrent_syncs_and_deliveries_agree() {
    let (_d, md) = setup();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let md = md.clone();
            std::thread::spawn(move || {
                let mut st = MailboxState::new(md.clone());
                for i in 0..25 {
                    deliver(&md, i, &format!("t{t}i{i}"), b"body\n");
                    let snap = st.sync().unwrap();
                    if i % 5 == 0 {
                        if let Some(m) = snap.messages.first() {
                            let _ = st
                                .set_flags(m.uid, Flags::from_flags(&[Flag::Seen]))
                                .unwrap();
                        }
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let snap = MailboxState::new(md.clone()).sync().unwrap();
    assert_eq!(snap.messages.len(), 100);
    let mut bases: Vec<&str> = snap.messages.iter().map(|m| m.base()).collect();
    bases.sort_unstable();
    bases.dedup();
    assert_eq!(bases.len(), 100, "one UID per message");
    assert!(snap.messages.windows(2).all(|w| w[0].uid < w[1].uid));
    assert_eq!(snap.uidnext, 101, "no UID burnt or reused");
    assert_eq!(
        fs::read_dir(md.cur()).unwrap().count() + fs::read_dir(md.new_dir()).unwrap().count(),
        100
    );
}

#[test]
fn large_mailbox_resync_uses_the_cache() {
    let (_d, md) = setup();
    let n = 20_000;
    for i in 0..n {
        fs::write(
            md.new_dir().join(format!("{}.m{i}.host,S=10", 1_000 + i)),
            b"0123456789",
        )
        .unwrap();
    }
    let mut st = MailboxState::new(md.clone());
    let t0 = Instant::now();
    let first = st.sync().unwrap();
    let t1 = Instant::now();
    let again = MailboxState::new(md.clone()).sync().unwrap();
    let t2 = Instant::now();
    let cached = st.sync().unwrap();
    let t3 = Instant::now();
    eprintln!(
        "20000 messages: first sync {:?}, cold re-sync {:?}, warm re-sync {:?}",
        t1 - t0,
        t2 - t1,
        t3 - t2
    );
    assert_eq!(first.messages.len(), n);
    assert_eq!(first.messages, again.messages);
    assert_eq!(again.messages, cached.messages);
    assert_eq!(first.messages[n - 1].uid as usize, n);
}

#[test]
fn prefetch_hints_at_present_messages_and_skips_gone_ones() {
    let (_d, md) = setup();
    for i in 0..5 {
        deliver(&md, 100 + i, "p", format!("message {i}\n").as_bytes());
    }
    let mut st = MailboxState::new(md.clone());
    let snap = st.sync().unwrap();
    // One of them expunged by someone else: the hint passes over it.
    let gone = &snap.messages[2];
    let path = [md.new_dir(), md.cur()]
        .iter()
        .flat_map(|d| fs::read_dir(d).unwrap())
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().contains(gone.base()))
        .unwrap();
    fs::remove_file(path).unwrap();
    let infos: Vec<_> = snap.messages.iter().collect();
    crate::store::maildir::prefetch(&md, &infos);
    crate::store::maildir::prefetch(&md, &[]);
    // Read once, a file is in the page cache: the probe that spares a warm FETCH says so.
    let last = st.open_message(&snap.messages[4]).unwrap().unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut &last, &mut text).unwrap();
    assert_eq!(text, "message 4\n");
    assert!(crate::store::maildir::files::cached(&last));
}

#[test]
fn delivery_reserves_keyword_letters_in_the_table() {
    let (_d, md) = setup();
    let mut st = MailboxState::new(md.clone());
    // An IMAP client made "$Label1" first: it keeps its letter, matched without case.
    let mut flags = Flags::new();
    flags.insert_keyword("$Label1").unwrap();
    st.append(b"Subject: x\n\nx\n", &flags, Some(100)).unwrap();
    let wanted = [
        "Work".to_string(),
        "$label1".into(),
        "bad keyword".into(),
        "Work".into(),
    ];
    let (letters, dropped) = MailboxState::new(md.clone())
        .keyword_letters(&wanted)
        .unwrap();
    assert_eq!(letters, "ab");
    assert_eq!(dropped, vec!["bad keyword".to_string()]);
    // A file delivered with those letters shows the keywords to a reader.
    let base = deliver(&md, 200, "k", b"Subject: y\n\ny\n");
    fs::rename(
        md.new_dir().join(&base),
        md.cur().join(format!("{base}:2,S{letters}")),
    )
    .unwrap();
    let snap = st.sync().unwrap();
    assert_eq!(snap.keywords, vec!["$Label1".to_string(), "Work".into()]);
    let m = snap.messages.iter().find(|m| m.base() == base).unwrap();
    assert_eq!(m.flags.imap_names(), vec!["\\Seen", "$Label1", "Work"]);
    // Beyond 26 keywords the rest are dropped.
    let many: Vec<String> = (0..30).map(|i| format!("k{i}")).collect();
    let (letters, dropped) = st.keyword_letters(&many).unwrap();
    assert_eq!(letters.len(), 24);
    assert_eq!(dropped, vec!["k24", "k25", "k26", "k27", "k28", "k29"]);
}

// ---- the journal beside the checkpoint (super::super::journal) ----

use crate::store::maildir::journal::JOURNAL_FILE;
use crate::store::maildir::statefile::State;

/// What a new handle (another process) reads: the snapshot of checkpoint + journal.
fn fresh_view(md: &Maildir) -> super::Snapshot {
    MailboxState::new(md.clone()).peek().unwrap().unwrap()
}

fn mailbox_with_checkpoint(n: i64) -> (tempfile::TempDir, Maildir, MailboxState) {
    let (d, md) = setup();
    for i in 0..n {
        deliver(&md, 100 + i, &format!("m{i}"), b"Subject: x\n\nbody\n");
    }
    let mut st = MailboxState::new(md.clone());
    st.sync().unwrap();
    assert!(
        !md.path().join(JOURNAL_FILE).exists(),
        "a new state is a checkpoint"
    );
    (d, md, st)
}

#[test]
fn changes_go_to_the_journal_and_every_handle_sees_them() {
    let (_d, md, mut st) = mailbox_with_checkpoint(3);
    let checkpoint = fs::read(md.path().join(STATE_FILE)).unwrap();
    let mut other = MailboxState::new(md.clone());
    assert_eq!(other.peek().unwrap().unwrap().messages.len(), 3);
    st.set_flags(1, Flags::from_flags(&[Flag::Seen])).unwrap();
    let uid = st
        .append(b"Subject: a\n\nnew\n", &Flags::default(), Some(5))
        .unwrap();
    assert_eq!(st.expunge(&[2]).unwrap(), vec![2]);
    assert_eq!(
        fs::read(md.path().join(STATE_FILE)).unwrap(),
        checkpoint,
        "the checkpoint is not rewritten"
    );
    let journal = fs::read_to_string(md.path().join(JOURNAL_FILE)).unwrap();
    assert_eq!(journal.matches("commit ").count(), 3, "{journal}");
    // The other handle reads only the new tail, and agrees with a new one.
    let seen = other.peek().unwrap().unwrap();
    assert_eq!(seen, fresh_view(&md));
    let uids: Vec<u32> = seen.messages.iter().map(|m| m.uid).collect();
    assert_eq!(uids, vec![1, 3, uid]);
    assert!(seen.messages[0].flags.contains(Flag::Seen));
    assert_eq!(seen.uidnext, uid + 1);
    // A sync under the lock agrees too, and finds nothing to change.
    let synced = other.sync().unwrap();
    assert_eq!(synced.messages, seen.messages);
    assert_eq!(synced.highestmodseq, seen.highestmodseq);
}

#[test]
fn a_journal_cut_at_any_byte_gives_the_last_complete_commit() {
    let (_d, md, mut st) = mailbox_with_checkpoint(2);
    let path = md.path().join(JOURNAL_FILE);
    // The state after each commit, and the journal's length then.
    let mut commits: Vec<(u64, super::Snapshot)> = Vec::new();
    let step = |commits: &mut Vec<(u64, super::Snapshot)>| {
        let len = fs::metadata(&path).unwrap().len();
        commits.push((len, fresh_view(&md)));
    };
    st.set_flags(1, Flags::from_flags(&[Flag::Flagged]))
        .unwrap();
    step(&mut commits);
    st.append(
        b"Subject: b\n\nb\n",
        &Flags::from_flags(&[Flag::Seen]),
        None,
    )
    .unwrap();
    step(&mut commits);
    st.expunge(&[1]).unwrap();
    step(&mut commits);
    let full = fs::read(&path).unwrap();
    let header = full.iter().position(|&b| b == b'\n').unwrap() + 1;
    let checkpoint_only = {
        let mut s = MailboxState::new(md.clone());
        fs::rename(&path, md.path().join("saved")).unwrap();
        let v = s.peek().unwrap().unwrap();
        fs::rename(md.path().join("saved"), &path).unwrap();
        v
    };
    for cut in header..=full.len() {
        fs::write(&path, &full[..cut]).unwrap();
        let want = commits
            .iter()
            .rev()
            .find(|(len, _)| *len as usize <= cut)
            .map_or(&checkpoint_only, |(_, s)| s);
        let got = fresh_view(&md);
        assert_eq!(&got, want, "journal cut at {cut} of {}", full.len());
    }
    // Under the lock, a torn tail is cut off before the next transaction, which then counts.
    let torn = commits[1].0 as usize + 7;
    fs::write(&path, &full[..torn]).unwrap();
    let mut writer = MailboxState::new(md.clone());
    writer
        .set_flags(2, Flags::from_flags(&[Flag::Answered]))
        .unwrap();
    let after = fresh_view(&md);
    assert!(after.get(2).unwrap().flags.contains(Flag::Answered));
    assert!(after.get(1).is_some(), "the cut expunge is not recorded");
    assert_eq!(after.messages.len(), 3);
}

#[test]
fn a_journal_of_another_generation_is_ignored() {
    let (_d, md, mut st) = mailbox_with_checkpoint(2);
    st.set_flags(1, Flags::from_flags(&[Flag::Seen])).unwrap();
    let path = md.path().join(JOURNAL_FILE);
    let before = fresh_view(&md);
    // A crash during compaction: the checkpoint of the next generation is written, the old
    // journal is still there (here with one more intact transaction: an expunge).
    let mut state = st.cache.as_ref().unwrap().state.clone();
    let generation = state.generation;
    state.generation += 1;
    state.store(md.path()).unwrap();
    let mut old = fs::read(&path).unwrap();
    old.extend_from_slice(&crate::store::maildir::journal::transaction("x 2\n"));
    fs::write(&path, &old).unwrap();
    let seen = fresh_view(&md);
    assert_eq!(
        seen, before,
        "the new checkpoint alone, nothing of the old journal"
    );
    assert!(seen.get(1).unwrap().flags.contains(Flag::Seen));
    // The same journal under a checkpoint of its own generation would have applied.
    state.generation = generation;
    state.store(md.path()).unwrap();
    assert_eq!(fresh_view(&md).messages.len(), 1);
    state.generation = generation + 1;
    state.store(md.path()).unwrap();
    // The next writer replaces the stale journal with one of its own generation.
    let mut w = MailboxState::new(md.clone());
    w.set_flags(2, Flags::from_flags(&[Flag::Draft])).unwrap();
    let text = fs::read_to_string(&path).unwrap();
    assert!(
        text.starts_with(&format!("postern-state-log 1 {}\n", generation + 1)),
        "{text}"
    );
    assert!(!text.contains("x 2"));
    let seen = fresh_view(&md);
    assert_eq!(seen.messages.len(), 2);
    assert!(seen.get(2).unwrap().flags.contains(Flag::Draft));
    assert!(seen.get(1).unwrap().flags.contains(Flag::Seen));
}

#[test]
fn the_journal_is_compacted_into_a_new_checkpoint() {
    let (_d, md, mut st) = mailbox_with_checkpoint(20);
    let path = md.path().join(JOURNAL_FILE);
    let generation = State::load(md.path()).unwrap().unwrap().unwrap().generation;
    let mut compactions = 0;
    let mut last_len = 0;
    for i in 0..1500u32 {
        let uid = i % 20 + 1;
        let flag = if (i / 20) % 2 == 0 {
            Flag::Seen
        } else {
            Flag::Flagged
        };
        st.set_flags(uid, Flags::from_flags(&[flag])).unwrap();
        let len = fs::metadata(&path).map_or(0, |m| m.len());
        if len < last_len {
            compactions += 1;
        }
        last_len = len;
        assert!(len <= 64 * 1024 + 1024, "journal at {len} bytes");
        if compactions == 2 {
            break;
        }
    }
    assert!(compactions >= 1, "the journal was compacted");
    let cp = State::load(md.path()).unwrap().unwrap().unwrap();
    assert!(cp.generation > generation);
    let seen = fresh_view(&md);
    assert_eq!(seen.messages.len(), 20);
    assert_eq!(seen, st.peek().unwrap().unwrap());
    let flags = |uid| seen.get(uid).unwrap().flags.clone();
    assert!(flags(1).contains(Flag::Seen) != flags(1).contains(Flag::Flagged));
}

#[test]
fn a_mailbox_of_the_previous_version_loads_and_gets_a_journal() {
    let (_d, md) = setup();
    let a = deliver(&md, 100, "a", b"one\n");
    // A state file as the previous version wrote it: no generation line, no journal.
    fs::write(
        md.path().join(STATE_FILE),
        format!(
            "postern-mailbox-state 1\nuidvalidity 1700000000\nuidnext 8\nhighestmodseq 3\n\
             m 7 3 4 - 100 n {a}\n"
        ),
    )
    .unwrap();
    let mut st = MailboxState::new(md.clone());
    let snap = st.sync().unwrap();
    assert_eq!((snap.uidvalidity, snap.uidnext), (1_700_000_000, 8));
    assert_eq!(snap.messages[0].uid, 7);
    st.set_flags(7, Flags::from_flags(&[Flag::Seen])).unwrap();
    assert!(md.path().join(JOURNAL_FILE).exists());
    let seen = fresh_view(&md);
    assert!(seen.get(7).unwrap().flags.contains(Flag::Seen));
}

#[test]
fn concurrent_writers_in_threads_share_one_journal() {
    let (_d, md, _st) = mailbox_with_checkpoint(10);
    let threads: Vec<_> = (0..6)
        .map(|t| {
            let md = md.clone();
            std::thread::spawn(move || {
                let mut st = MailboxState::new(md);
                let mut mine = Vec::new();
                for i in 0..30u32 {
                    let body = format!("Subject: t{t} i{i}\n\nbody\n");
                    let uid = st.append(body.as_bytes(), &Flags::default(), None).unwrap();
                    mine.push((uid, body));
                    st.set_flags(i % 10 + 1, Flags::from_flags(&[Flag::Seen]))
                        .unwrap();
                    if i % 3 == 0 {
                        let (gone, _) = mine.remove(0);
                        assert_eq!(st.expunge(&[gone]).unwrap(), vec![gone]);
                    }
                }
                mine
            })
        })
        .collect();
    let kept: Vec<(u32, String)> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    let mut uids: Vec<u32> = kept.iter().map(|k| k.0).collect();
    uids.sort_unstable();
    uids.dedup();
    assert_eq!(uids.len(), kept.len(), "no UID given twice");
    let mut view = MailboxState::new(md.clone());
    let snap = view.sync().unwrap();
    assert_eq!(snap.messages.len(), 10 + kept.len());
    for (uid, body) in &kept {
        let info = snap.get(*uid).unwrap();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut view.open_message(info).unwrap().unwrap(), &mut bytes)
            .unwrap();
        assert_eq!(&bytes, body.as_bytes(), "UID {uid}");
    }
    assert_eq!(snap.uidnext, 11 + 6 * 30, "no UID burnt or reused");
    assert_eq!(snap, {
        let mut s = fresh_view(&md);
        s.recent.clear();
        s
    });
}

#[test]
fn a_reader_uses_only_what_is_durable() {
    let (_d, md, _st) = mailbox_with_checkpoint(2);
    let mut reader = MailboxState::new(md.clone());
    reader.peek().unwrap();
    // A writer appends its transaction and is stopped before its fdatasync (as if another
    // process were): the lock is free again, the record not known to be durable.
    let mut writer = MailboxState::new(md.clone());
    {
        let lock = crate::store::maildir::lock::StateLock::acquire(&md).unwrap();
        let (mut state, _) = writer.load_locked().unwrap();
        state.entries[0].modseq = state.highestmodseq + 1;
        state.highestmodseq += 1;
        writer.save_locked(state, true).unwrap();
        drop(lock);
    }
    let journal = writer.cache.as_ref().unwrap().journal.clone().unwrap();
    let end = fs::metadata(md.path().join(JOURNAL_FILE)).unwrap().len();
    assert_eq!(journal.offset, end);
    assert!(
        journal.file.durable_offset() < end,
        "not synced by the writer yet"
    );
    // The reader sees the change only once it is on disk: peek made it durable.
    let seen = reader.peek().unwrap().unwrap();
    assert_eq!(
        seen.highestmodseq,
        writer.peek().unwrap().unwrap().highestmodseq
    );
    let read = reader.cache.as_ref().unwrap().journal.clone().unwrap();
    assert!(read.file.durable_offset() >= end);
    // A writer whose transaction is already covered does not sync again (same handle).
    assert!(Arc::ptr_eq(&read.file, &journal.file));
}

#[test]
fn a_released_state_is_taken_up_by_the_next_handle_and_brought_up_to_date() {
    let (_d, md, mut st) = mailbox_with_checkpoint(3);
    st.set_flags(1, Flags::from_flags(&[Flag::Seen])).unwrap();
    assert_eq!(st.release(), 0, "a small state is put aside, not freed");
    // Changed after it was put aside: the next handle takes it and reads the new transaction.
    let mut other = MailboxState::new(md.clone());
    other.expunge(&[2]).unwrap();
    assert_eq!(other.release(), 0);
    let mut next = MailboxState::new(md.clone());
    let seen = next.peek().unwrap().unwrap();
    let uids: Vec<u32> = seen.messages.iter().map(|m| m.uid).collect();
    assert_eq!(uids, vec![1, 3]);
    assert!(seen.get(1).unwrap().flags.contains(Flag::Seen));
    assert_eq!(seen, fresh_view(&md));
    // Freed, not put aside, above the limit.
    let mut big = MailboxState::new(md.clone());
    big.peek().unwrap();
    let c = big.cache.as_mut().unwrap();
    let template = c.state.entries[0].clone();
    c.state.entries = (1..=super::PARK_ENTRIES as u32 + 1)
        .map(|uid| crate::store::maildir::statefile::Entry {
            uid,
            ..template.clone()
        })
        .collect();
    assert_eq!(big.release(), super::PARK_ENTRIES + 1);
}

/// The directories' times a change recorded for the process (`shared::record_dirs`), when
/// recorded with the state a reader peeks now.
fn recorded_dirs(st: &mut MailboxState) -> Option<[i128; 2]> {
    let (_, position) = st.peek_with_position().unwrap()?;
    let (recorded, times) = crate::store::maildir::shared::recorded_dirs(st.maildir().path())?;
    (Some(recorded) == position).then_some(times)
}

#[test]
fn every_change_under_the_lock_records_the_directory_times_it_leaves() {
    use crate::store::maildir::shared::dir_times;
    let (_d, md) = setup();
    deliver(&md, 100, "a", b"one\n");
    let mut st = MailboxState::new(md.clone());
    // A sync records the times it read the directories at.
    assert_eq!(uids(&mut st).len(), 1);
    assert_eq!(recorded_dirs(&mut st), dir_times(&md));
    // A change of files records the times after it (the file moved from new/ to cur/).
    let seen = Flags::from_flags(&[Flag::Seen]);
    st.store_flags(&[1], &FlagOp::Add(seen.clone()), None)
        .unwrap();
    assert!(md.new_dir().read_dir().unwrap().next().is_none());
    assert_eq!(recorded_dirs(&mut st), dir_times(&md));
    // Another program's delivery moves the times away from the record: the next change of
    // files cannot tell what its times stand for, and drops it; a sync records them again.
    std::thread::sleep(std::time::Duration::from_millis(20));
    deliver(&md, 200, "b", b"two\n");
    assert_ne!(recorded_dirs(&mut st), dir_times(&md));
    st.store_flags(&[1], &FlagOp::Remove(seen), None).unwrap();
    assert_eq!(recorded_dirs(&mut st), None);
    assert_eq!(uids(&mut st).len(), 2);
    assert_eq!(recorded_dirs(&mut st), dir_times(&md));
    // Another handle reading the same state finds the record.
    let mut other = MailboxState::new(md.clone());
    assert_eq!(recorded_dirs(&mut other), dir_times(&md));
}
