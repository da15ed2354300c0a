//! Transcript tests of the extensions: CREATE-SPECIAL-USE (RFC 6154), CONDSTORE and QRESYNC
//! (RFC 7162).

use super::T;

#[test]
fn create_special_use_is_stored_listed_and_checked() {
    let mut t = T::new(true);
    t.send("a LOGIN alice secret\r\n");
    let r = t.send("b CREATE Outbox (USE (\\Sent))\r\n");
    assert_eq!(r, "b OK CREATE completed\r\n");
    let r = t.send("c CREATE Bin (USE (\\trash \\Junk))\r\n");
    assert_eq!(r, "c OK CREATE completed\r\n");
    let r = t.send("d LIST \"\" Outbox\r\ne LIST \"\" Bin\r\n");
    assert!(
        r.contains("* LIST (\\HasNoChildren \\Sent) \"/\" Outbox\r\n"),
        "{r}"
    );
    assert!(
        r.contains("* LIST (\\HasNoChildren \\Trash \\Junk) \"/\" Bin\r\n"),
        "{r}"
    );
    // Unknown and virtual-only attributes: NO [USEATTR], and no mailbox.
    for (tag, attr) in [("f", "\\Important"), ("g", "\\All"), ("h", "\\Flagged")] {
        let r = t.send(&format!("{tag} CREATE Odd (USE ({attr}))\r\n"));
        assert!(r.starts_with(&format!("{tag} NO [USEATTR] ")), "{r}");
    }
    let r = t.send("i LIST \"\" Odd\r\n");
    assert_eq!(r, "i OK LIST completed\r\n");
    // The attribute follows the mailbox through RENAME; the first-login folders keep theirs.
    let r = t.send("j RENAME Outbox Gone\r\nk LIST (SPECIAL-USE) \"\" *\r\n");
    assert!(r.contains("(\\HasNoChildren \\Sent) \"/\" Gone\r\n"), "{r}");
    assert!(r.contains("(\\HasNoChildren \\Sent) \"/\" Sent\r\n"), "{r}");
    assert!(
        r.contains("(\\HasNoChildren \\Drafts) \"/\" Drafts\r\n"),
        "{r}"
    );
    assert!(!r.contains("INBOX"), "{r}");
    // A plain CREATE has no special use, even with a special name below the top level.
    let r = t.send("l CREATE Lists/Sent\r\nm LIST \"\" Lists/Sent\r\n");
    assert!(
        r.contains("* LIST (\\HasNoChildren) \"/\" Lists/Sent\r\n"),
        "{r}"
    );
}

/// The number after `key` in `text` (`MODSEQ (`, `HIGHESTMODSEQ `…).
fn number_after(text: &str, key: &str) -> u64 {
    let at = text
        .find(key)
        .unwrap_or_else(|| panic!("no {key} in {text}"))
        + key.len();
    text[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap_or_else(|_| panic!("no number after {key} in {text}"))
}

#[test]
fn changedsince_returns_only_changed_messages_and_enables_condstore() {
    let mut t = T::new(true);
    t.send("a LOGIN alice secret\r\n");
    for i in 0..4 {
        t.deliver(&format!("m{i}"));
    }
    let r = t.send("b SELECT INBOX\r\n");
    assert!(!r.contains("HIGHESTMODSEQ"), "not enabled yet: {r}");
    let r = t.send("c STATUS INBOX (HIGHESTMODSEQ)\r\n");
    // STATUS (HIGHESTMODSEQ) is an enabling command: the selected mailbox's value comes first.
    let before = number_after(&r, "* OK [HIGHESTMODSEQ ");
    assert!(
        r.contains(&format!("* STATUS INBOX (HIGHESTMODSEQ {before})")),
        "{r}"
    );
    let r = t.send("d STORE 2,4 +FLAGS (\\Flagged)\r\n");
    let after = number_after(&r, "* 4 FETCH (UID 4 FLAGS (\\Flagged \\Recent) MODSEQ (");
    assert!(after > before, "{r}");

    let r = t.send(&format!("e FETCH 1:* (FLAGS) (CHANGEDSINCE {before})\r\n"));
    let lines: Vec<&str> = r.lines().collect();
    assert_eq!(lines.len(), 3, "{r}");
    assert!(
        lines[0].starts_with("* 2 FETCH (FLAGS (\\Flagged \\Recent) MODSEQ ("),
        "{r}"
    );
    assert!(
        lines[1].starts_with("* 4 FETCH (FLAGS (\\Flagged \\Recent) MODSEQ ("),
        "{r}"
    );
    assert_eq!(lines[2], "e OK FETCH completed");
    let r = t.send(&format!(
        "f UID FETCH 1:* (FLAGS) (CHANGEDSINCE {after})\r\n"
    ));
    assert_eq!(r, "f OK FETCH completed\r\n");

    // Another session's change reaches this one with its MODSEQ, and SELECT (CONDSTORE) in a
    // third agrees with STATUS.
    let mut u = t.other();
    u.send("b SELECT INBOX\r\nc STORE 1 +FLAGS.SILENT (\\Seen)\r\n");
    let r = t.send("g NOOP\r\n");
    let one = number_after(&r, "* 1 FETCH (UID 1 FLAGS (\\Seen \\Recent) MODSEQ (");
    assert!(one > after, "{r}");
    let mut v = t.other();
    let r = v.send("b EXAMINE INBOX (CONDSTORE)\r\n");
    assert_eq!(number_after(&r, "* OK [HIGHESTMODSEQ "), one, "{r}");
    let r = v.send("c STATUS INBOX (HIGHESTMODSEQ MESSAGES)\r\n");
    assert!(
        r.contains(&format!("* STATUS INBOX (HIGHESTMODSEQ {one} MESSAGES 4)")),
        "{r}"
    );
}

#[test]
fn search_modseq_and_unchangedsince_enable_condstore() {
    let mut t = T::new(true);
    t.send("a LOGIN alice secret\r\n");
    t.deliver("x");
    t.deliver("y");
    t.send("b SELECT INBOX\r\n");
    let r = t.send("c SEARCH MODSEQ 1\r\n");
    assert!(r.starts_with("* OK [HIGHESTMODSEQ "), "{r}");
    assert!(r.contains("* SEARCH 1 2 (MODSEQ "), "{r}");
    // Enabled now: a plain STORE reports MODSEQ, and there is no second HIGHESTMODSEQ.
    let r = t.send("d STORE 1 +FLAGS (\\Answered)\r\n");
    assert!(r.contains("MODSEQ ("), "{r}");
    assert!(!r.contains("HIGHESTMODSEQ"), "{r}");

    let mut u = t.other();
    u.send("b SELECT INBOX\r\n");
    let r = u.send("c STORE 2 (UNCHANGEDSINCE 1) +FLAGS.SILENT (\\Flagged)\r\n");
    assert!(r.starts_with("* OK [HIGHESTMODSEQ "), "{r}");
    assert!(r.contains("c OK [MODIFIED 2]"), "{r}");
    // With CONDSTORE on, every FETCH a flag change causes carries UID and MODSEQ (§3.1): a
    // STORE, and a FETCH that sets \Seen. A FETCH that asks for neither does not.
    let r = u.send("d STORE 1 +FLAGS (\\Deleted)\r\n");
    assert!(
        r.starts_with("* 1 FETCH (UID 1 FLAGS (\\Answered \\Deleted) MODSEQ ("),
        "{r}"
    );
    let r = u.send("e FETCH 2 (BODY[TEXT])\r\n");
    assert!(
        r.starts_with("* 2 FETCH (BODY[TEXT] {6}\r\nbody\r\n FLAGS (\\Seen) UID 2 MODSEQ ("),
        "{r}"
    );
    let r = u.send("f FETCH 2 (FLAGS)\r\n");
    assert_eq!(r, "* 2 FETCH (FLAGS (\\Seen))\r\nf OK FETCH completed\r\n");
}

#[test]
fn qresync_resyncs_a_returning_client_and_reports_vanished() {
    let mut t = T::new(true);
    t.send("a LOGIN alice secret\r\n");
    for i in 0..6 {
        t.deliver(&format!("q{i}"));
    }
    let r = t.send("b SELECT INBOX (CONDSTORE)\r\n");
    let validity = number_after(&r, "[UIDVALIDITY ");
    let known = number_after(&r, "[HIGHESTMODSEQ ");
    // Not enabled: the SELECT parameter and the FETCH modifier are refused.
    let r = t.send(&format!(
        "c SELECT INBOX (QRESYNC ({validity} {known}))\r\n"
    ));
    assert!(
        r.starts_with("c BAD QRESYNC parameter without ENABLE QRESYNC"),
        "{r}"
    );
    let r = t.send("d UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)\r\n");
    assert!(r.starts_with("d BAD VANISHED needs"), "{r}");

    // While the client is away: a flag change, two expunges.
    let mut u = t.other();
    u.send("b SELECT INBOX\r\nc STORE 2 +FLAGS (\\Flagged)\r\n");
    u.send("d STORE 4:5 +FLAGS (\\Deleted)\r\ne EXPUNGE\r\n");

    let mut q = t.other();
    let r = q.send("b ENABLE QRESYNC\r\n");
    assert_eq!(r, "* ENABLED QRESYNC\r\nb OK ENABLE completed\r\n");
    let r = q.send(&format!(
        "c SELECT INBOX (QRESYNC ({validity} {known}))\r\n"
    ));
    assert!(r.contains("* 4 EXISTS\r\n"), "{r}");
    assert!(r.contains("* OK [HIGHESTMODSEQ "), "{r}");
    let fetches: Vec<&str> = r.lines().filter(|l| l.contains(" FETCH ")).collect();
    assert_eq!(fetches.len(), 1, "{r}");
    assert!(
        fetches[0].starts_with("* 2 FETCH (UID 2 FLAGS (\\Flagged) MODSEQ ("),
        "{r}"
    );
    assert!(r.contains("* VANISHED (EARLIER) 4:5\r\n"), "{r}");
    assert!(r.ends_with("c OK [READ-WRITE] SELECT completed\r\n"), "{r}");
    // Known UIDs narrow the answer; another UIDVALIDITY gets none of it.
    let r = q.send(&format!(
        "d EXAMINE INBOX (QRESYNC ({validity} {known} 1,3:4))\r\n"
    ));
    assert!(r.contains("* OK [CLOSED]"), "{r}");
    assert!(!r.contains(" FETCH "), "{r}");
    assert!(r.contains("* VANISHED (EARLIER) 4\r\n"), "{r}");
    let r = q.send(&format!(
        "e SELECT INBOX (QRESYNC ({} 1))\r\n",
        validity + 1
    ));
    assert!(!r.contains(" FETCH ") && !r.contains("VANISHED"), "{r}");

    // UID FETCH with VANISHED: the gone UIDs of the set first, then the changes.
    let r = q.send(&format!(
        "f UID FETCH 1:* (FLAGS) (CHANGEDSINCE {known} VANISHED)\r\n"
    ));
    assert!(
        r.starts_with("* VANISHED (EARLIER) 4:5\r\n* 2 FETCH (UID 2 FLAGS (\\Flagged) MODSEQ ("),
        "{r}"
    );
    // Expunges are VANISHED from now on, another session's and its own.
    u.send("f STORE 3 +FLAGS (\\Deleted)\r\ng EXPUNGE\r\n");
    let r = q.send("g NOOP\r\n");
    assert!(r.starts_with("* VANISHED 3\r\n"), "{r}");
    assert!(!r.contains("EXPUNGE"), "{r}");
    let r = q.send("h UID STORE 1,6 +FLAGS.SILENT (\\Deleted)\r\ni EXPUNGE\r\n");
    assert!(
        r.contains("* VANISHED 1,6\r\ni OK EXPUNGE completed\r\n"),
        "{r}"
    );
}

#[test]
fn missing_uids_are_the_gaps_in_the_view() {
    use crate::proto::imap::mailbox_name::MailboxName;
    use crate::proto::imap::sequence::SequenceSet;
    use crate::proto::imap::session::Selected;
    use crate::proto::imap::store::{Account, MailStore};
    let store = crate::proto::imap::store::memory::MemoryStore::new();
    let account = store.open("alice").unwrap();
    let mailbox = account.mailbox(&MailboxName::inbox()).unwrap();
    let mut sel = Selected::open(MailboxName::inbox(), mailbox, false, false).unwrap();
    for uid in [2, 3, 7, 10] {
        sel.messages_mut().push(crate::store::maildir::MessageInfo {
            uid,
            file_name: format!("{uid}.x.host:2,").into(),
            in_new: false,
            size: 10,
            vsize: None,
            internal_date: 0,
            flags: crate::store::maildir::Flags::new(),
            modseq: u64::from(uid),
        });
    }
    sel.uidnext = 13;
    let vanished = |sel: &Selected<_>, set: &[u8]| {
        let mut out = Vec::new();
        if let Some(d) = sel.vanished_earlier(&SequenceSet::parse(set).unwrap()) {
            d.encode(&mut out);
        }
        String::from_utf8(out).unwrap()
    };
    assert_eq!(
        vanished(&sel, b"1:*"),
        "* VANISHED (EARLIER) 1,4:6,8:9,11:12\r\n"
    );
    assert_eq!(vanished(&sel, b"2:3"), "");
    assert_eq!(vanished(&sel, b"3:8"), "* VANISHED (EARLIER) 4:6,8\r\n");
    assert_eq!(vanished(&sel, b"2:3,7"), "");
}

#[test]
fn sort_and_thread_order_the_matching_messages() {
    let mut t = T::new(true);
    let caps = t.send("a CAPABILITY\r\n");
    for cap in [
        "SORT",
        "SORT=DISPLAY",
        "THREAD=ORDEREDSUBJECT",
        "THREAD=REFERENCES",
    ] {
        assert!(caps.contains(&format!(" {cap}")), "{cap}: {caps}");
    }
    t.send("b LOGIN alice secret\r\n");
    let messages = [
        "From: Zed <z@x>\r\nSubject: Hello\r\nMessage-ID: <a@x>\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n\r\nx\r\n",
        "From: amy@x\r\nSubject: Re: Hello\r\nMessage-ID: <b@x>\r\nReferences: <a@x>\r\nDate: Mon, 1 Jan 2024 12:00:00 +0000\r\n\r\nxx\r\n",
        "From: bob@x\r\nSubject: Apples\r\nMessage-ID: <c@x>\r\nDate: Mon, 1 Jan 2024 09:00:00 +0000\r\n\r\nxxxxxxxx\r\n",
        "From: Al <c@x>\r\nSubject: Re: hello\r\nMessage-ID: <d@x>\r\nDate: Mon, 1 Jan 2024 11:00:00 +0000\r\n\r\n\r\n",
    ];
    for (i, m) in messages.iter().enumerate() {
        let r = t.send(&format!("c{i} APPEND INBOX {{{}+}}\r\n{m}\r\n", m.len()));
        assert!(r.contains("OK [APPENDUID"), "{r}");
    }
    t.send("d SELECT INBOX\r\n");
    let r = t.send("e SORT (SUBJECT) UTF-8 ALL\r\n");
    assert!(r.starts_with("* SORT 3 1 2 4\r\ne OK"), "{r}");
    let r = t.send("f SORT (REVERSE DATE) UTF-8 NOT FROM bob\r\n");
    assert!(r.starts_with("* SORT 2 4 1\r\nf OK"), "{r}");
    let r = t.send("g UID SORT (DISPLAYFROM) US-ASCII ALL\r\n");
    assert!(r.starts_with("* SORT 4 2 3 1\r\ng OK"), "{r}");
    let r = t.send("h SORT (FROM SIZE) UTF-8 ALL\r\n");
    assert!(r.starts_with("* SORT 2 3 4 1\r\nh OK"), "{r}");
    let r = t.send("i THREAD ORDEREDSUBJECT UTF-8 ALL\r\n");
    assert!(r.starts_with("* THREAD (3)(1 (4)(2))\r\ni OK"), "{r}");
    let r = t.send("j THREAD REFERENCES UTF-8 ALL\r\n");
    assert!(r.starts_with("* THREAD (3)(1 (4)(2))\r\nj OK"), "{r}");
    let r = t.send("k THREAD REFERENCES UTF-8 SUBJECT nothing\r\n");
    assert!(r.starts_with("* THREAD\r\nk OK"), "{r}");
    let r = t.send(
        "l SORT (SUBJECT) KOI8-R ALL\r\nm THREAD MAGIC UTF-8 ALL\r\nn SORT (COLOR) UTF-8 ALL\r\n",
    );
    assert!(r.contains("l NO [BADCHARSET"), "{r}");
    assert!(r.contains("m BAD"), "{r}");
    assert!(r.contains("n BAD"), "{r}");
}

#[test]
fn esort_answers_in_sort_order_and_sort_contexts_report_positions() {
    let mut t = T::new(true);
    t.send("a LOGIN alice secret\r\n");
    // Subjects in sort order: 3 (Apples), 1 (Hello), 2 (Kiwis), 4 (Pears).
    let subjects = ["Hello", "Kiwis", "Apples", "Pears"];
    for (i, s) in subjects.iter().enumerate() {
        let m = format!("From: a@x\r\nSubject: {s}\r\n\r\nbody {i}\r\n");
        let r = t.send(&format!("c{i} APPEND INBOX {{{}+}}\r\n{m}\r\n", m.len()));
        assert!(r.contains("OK [APPENDUID"), "{r}");
    }
    t.send("d SELECT INBOX\r\n");
    let r = t.send("e SORT RETURN (MIN MAX COUNT ALL) (SUBJECT) UTF-8 ALL\r\n");
    assert!(
        r.starts_with("* ESEARCH (TAG \"e\") MIN 3 MAX 4 ALL 3,1:2,4 COUNT 4\r\ne OK"),
        "{r}"
    );
    let r = t.send("f UID SORT RETURN () (REVERSE SUBJECT) UTF-8 ALL\r\n");
    assert!(
        r.starts_with("* ESEARCH (TAG \"f\") UID ALL 4,2,1,3\r\nf OK"),
        "{r}"
    );
    let r = t.send("g SORT RETURN (PARTIAL 2:3 COUNT) (SUBJECT) UTF-8 ALL\r\n");
    assert!(
        r.starts_with("* ESEARCH (TAG \"g\") PARTIAL (2:3 1:2) COUNT 4\r\ng OK"),
        "{r}"
    );
    let r = t.send("h SORT RETURN (PARTIAL 7:9) (SUBJECT) UTF-8 ALL\r\n");
    assert!(r.contains(" PARTIAL (7:9 NIL)\r\n"), "{r}");
    let r = t.send("i SORT RETURN (MIN MAX) (SUBJECT) UTF-8 SUBJECT nothing\r\n");
    assert!(r.starts_with("* ESEARCH (TAG \"i\")\r\ni OK"), "{r}");
    let r = t.send("j SORT RETURN (ALL PARTIAL 1:2) (SUBJECT) UTF-8 ALL\r\n");
    assert!(r.starts_with("j BAD"), "{r}");

    // CONTEXT=SORT: a kept UID SORT of the unflagged messages.
    let r = t.send("k UID SORT RETURN (UPDATE ALL) (SUBJECT) UTF-8 UNFLAGGED\r\n");
    assert!(
        r.starts_with("* ESEARCH (TAG \"k\") UID ALL 3,1:2,4\r\nk OK"),
        "{r}"
    );
    let r = t.send("l SORT RETURN (UPDATE ALL) (REVERSE SUBJECT) UTF-8 UNFLAGGED\r\n");
    assert!(
        r.starts_with("* ESEARCH (TAG \"l\") ALL 4,2,1,3\r\nl OK"),
        "{r}"
    );
    let r = t.send("k SORT RETURN (UPDATE) (SUBJECT) UTF-8 ALL\r\n");
    assert!(r.starts_with("k BAD"), "{r}");
    // Flagging 1 (Hello) removes it from position 2 of k, 3 of l.
    let r = t.send("m STORE 1 +FLAGS (\\Flagged)\r\n");
    assert!(
        r.contains("* ESEARCH (TAG \"k\") UID REMOVEFROM (2 1)\r\n"),
        "{r}"
    );
    assert!(
        r.contains("* ESEARCH (TAG \"l\") REMOVEFROM (3 1)\r\n"),
        "{r}"
    );
    // Removing two at once: each position as the list is once the one before is gone.
    let r = t.send("n STORE 3:4 +FLAGS (\\Flagged)\r\n");
    assert!(
        r.contains("* ESEARCH (TAG \"k\") UID REMOVEFROM (1 3 2 4)\r\n"),
        "{r}"
    );
    // New mail: added where the sort order puts it, after the EXISTS.
    let m = "From: a@x\r\nSubject: Bananas\r\n\r\nx\r\n";
    let mut u = t.other();
    u.send(&format!("o APPEND INBOX {{{}+}}\r\n{m}\r\n", m.len()));
    let r = t.send("p NOOP\r\n");
    let exists = r.find("* 5 EXISTS\r\n").expect(&r);
    let addition = r
        .find("* ESEARCH (TAG \"k\") UID ADDTO (1 5)\r\n")
        .expect(&r);
    assert!(exists < addition, "{r}");
    assert!(r.contains("* ESEARCH (TAG \"l\") ADDTO (2 5)\r\n"), "{r}");
    // Unflagging puts them back where they sort: k is 3, 5, 1, 2, 4 by subject then.
    let r = t.send("q STORE 1,3:4 -FLAGS (\\Flagged)\r\n");
    assert!(
        r.contains("* ESEARCH (TAG \"k\") UID ADDTO (1 3 3 1 5 4)\r\n"),
        "{r}"
    );
    let r = t.send("r UID SORT (SUBJECT) UTF-8 UNFLAGGED\r\n");
    assert!(r.starts_with("* SORT 3 5 1 2 4\r\n"), "{r}");
}

#[test]
fn esearch_returns_and_searchres_saves_a_result_for_later_commands() {
    let mut t = T::new(true);
    let caps = t.send("a CAPABILITY\r\n");
    assert!(
        caps.contains(" ESEARCH") && caps.contains(" SEARCHRES"),
        "{caps}"
    );
    t.send("b LOGIN alice secret\r\n");
    for i in 0..6 {
        t.deliver(&format!("m{i}"));
    }
    t.send("c SELECT INBOX\r\nd STORE 2,4:5 +FLAGS (\\Flagged)\r\n");
    let r = t.send("e SEARCH RETURN (MIN MAX COUNT ALL) FLAGGED\r\n");
    assert!(
        r.starts_with("* ESEARCH (TAG \"e\") MIN 2 MAX 5 ALL 2,4:5 COUNT 3\r\ne OK"),
        "{r}"
    );
    let r = t.send("f UID SEARCH RETURN () UNFLAGGED\r\n");
    assert!(
        r.starts_with("* ESEARCH (TAG \"f\") UID ALL 1,3,6\r\nf OK"),
        "{r}"
    );
    let r = t.send("g SEARCH RETURN (COUNT MIN) SUBJECT nothing\r\n");
    assert!(
        r.starts_with("* ESEARCH (TAG \"g\") COUNT 0\r\ng OK"),
        "{r}"
    );
    // SAVE alone: no ESEARCH; `$` then names the saved messages.
    let r = t.send("h SEARCH RETURN (SAVE) FLAGGED\r\n");
    assert!(r.starts_with("h OK"), "{r}");
    let r = t.send("i FETCH $ (UID)\r\n");
    assert!(
        r.contains("* 2 FETCH (UID 2)\r\n* 4 FETCH (UID 4)\r\n* 5 FETCH (UID 5)\r\ni OK"),
        "{r}"
    );
    let r = t.send("j UID SEARCH $ SUBJECT m3\r\nk SEARCH OR $ 1\r\n");
    assert!(r.contains("* SEARCH 4\r\nj OK"), "{r}");
    assert!(r.contains("* SEARCH 1 2 4 5\r\nk OK"), "{r}");
    // An expunge takes the message out of `$` (it holds UIDs).
    let r = t.send("l STORE 2 +FLAGS (\\Deleted)\r\nm EXPUNGE\r\nn FETCH $ (UID)\r\n");
    assert!(
        r.contains("* 3 FETCH (UID 4)\r\n* 4 FETCH (UID 5)\r\nn OK"),
        "{r}"
    );
    // SAVE with MAX alone keeps only that message.
    let r = t.send("o SEARCH RETURN (SAVE MAX) FLAGGED\r\np UID FETCH $ (FLAGS)\r\n");
    assert!(r.contains("* ESEARCH (TAG \"o\") MAX 4\r\n"), "{r}");
    assert!(r.contains("* 4 FETCH (UID 5 FLAGS"), "{r}");
    assert!(!r.contains("* 3 FETCH"), "{r}");
    // A new SELECT empties `$`.
    let r = t.send("q SELECT INBOX\r\nr FETCH $ (UID)\r\ns UID STORE $ +FLAGS (\\Seen)\r\n");
    assert!(r.contains("\r\nr OK"), "{r}");
    assert!(!r.contains("FETCH (UID"), "{r}");
    assert!(r.contains("s OK"), "{r}");
    let r = t.send("t SEARCH RETURN (BOGUS) ALL\r\n");
    assert!(r.starts_with("t BAD"), "{r}");
}

#[test]
fn multiappend_adds_every_message_or_none() {
    let mut t = T::new(true);
    let caps = t.send("a CAPABILITY\r\n");
    assert!(caps.contains(" MULTIAPPEND"), "{caps}");
    t.send("b LOGIN alice secret\r\n");
    let r = t.send(
        "c APPEND INBOX (\\Seen) {11+}\r\nSubject: 1\n \"07-Feb-1994 21:52:25 -0800\" {11+}\r\nSubject: 2\n {11}\r\n",
    );
    assert!(r.ends_with("+ Ready for literal data\r\n"), "{r}");
    let r = t.send("Subject: 3\n\r\n");
    assert!(r.contains("c OK [APPENDUID "), "{r}");
    assert!(r.contains(" 1:3] APPEND completed"), "{r}");
    let r = t.send("d SELECT INBOX\r\ne FETCH 1:* (FLAGS INTERNALDATE)\r\n");
    assert!(r.contains("* 3 EXISTS"), "{r}");
    assert!(r.contains("* 1 FETCH (FLAGS (\\Seen \\Recent)"), "{r}");
    assert!(
        r.contains("* 2 FETCH (FLAGS (\\Recent) INTERNALDATE \"08-Feb-1994 05:52:25 +0000\")"),
        "{r}"
    );
    // A bad keyword in the second message: nothing of the command is added.
    let r = t.send(
        "f APPEND INBOX {11+}\r\nSubject: 4\n (\\Bogus-\\x) {11+}\r\nSubject: 5\n\r\ng NOOP\r\n",
    );
    assert!(r.contains("f BAD") || r.contains("f NO"), "{r}");
    let r = t.send("h STATUS INBOX (MESSAGES)\r\n");
    assert!(r.contains("(MESSAGES 3)"), "{r}");
    // The second message fails in the store (more keywords than a maildir holds): the first,
    // already added, is taken away again.
    let kw = |from: usize, to: usize| {
        (from..to)
            .map(|i| format!("k{i}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let r = t.send(&format!(
        "i APPEND INBOX ({}) {{11+}}\r\nSubject: 6\n ({}) {{11+}}\r\nSubject: 7\n\r\n",
        kw(0, 20),
        kw(20, 30)
    ));
    assert!(r.contains("\ni NO [LIMIT]"), "{r}");
    let r = t.send("j STATUS INBOX (MESSAGES)\r\nk NOOP\r\n");
    assert!(r.contains("(MESSAGES 3)"), "{r}");
}

#[test]
fn binary_fetches_decoded_parts_and_appends_literal8() {
    let mut t = T::new(true);
    let caps = t.send("a CAPABILITY\r\n");
    assert!(caps.contains(" BINARY"), "{caps}");
    t.send("b LOGIN alice secret\r\n");
    let msg = "Subject: bin\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n\
--x\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\ncaf=C3=A9=\r\n!\r\n\
--x\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\nAAEC\r\n\
--x\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nbegin\r\n\
--x--\r\n";
    // A literal8 APPEND.
    let r = t.send(&format!("c APPEND INBOX ~{{{}+}}\r\n{msg}\r\n", msg.len()));
    assert!(r.starts_with("c OK [APPENDUID"), "{r}");
    t.send("d SELECT INBOX\r\n");
    let r = t.send("e FETCH 1 (BINARY.PEEK[1] BINARY.SIZE[1] BINARY.SIZE[2])\r\n");
    assert!(
        r.starts_with(
            "* 1 FETCH (BINARY[1] {6}\r\ncafé! BINARY.SIZE[1] 6 BINARY.SIZE[2] 3)\r\ne OK"
        ),
        "{r}"
    );
    let r = t.send("f FETCH 1 (BINARY.PEEK[2])\r\n");
    assert!(
        r.starts_with("* 1 FETCH (BINARY[2] ~{3}\r\n\0\x01\x02)\r\nf OK"),
        "{r:?}"
    );
    let r = t.send("g FETCH 1 (BINARY.PEEK[1]<2.3>)\r\n");
    assert!(
        r.starts_with("* 1 FETCH (BINARY[1]<2> {3}\r\nfé)\r\ng OK"),
        "{r}"
    );
    let r = t.send("h FETCH 1 (BINARY.PEEK[3])\r\n");
    assert!(r.starts_with("h NO [UNKNOWN-CTE]"), "{r}");
    // BINARY (not .PEEK) sets \Seen.
    let r = t.send("i FETCH 1 (BINARY[1])\r\nj FETCH 1 (FLAGS)\r\n");
    assert!(
        r.contains("* 1 FETCH (FLAGS (\\Seen \\Recent))\r\nj OK"),
        "{r}"
    );
}

#[test]
fn compress_deflate_is_offered_after_login_and_started_once() {
    let mut t = T::new(true);
    let caps = t.send("a CAPABILITY\r\n");
    assert!(
        !caps.contains("COMPRESS=DEFLATE"),
        "not before login: {caps}"
    );
    t.send("b LOGIN alice secret\r\n");
    let caps = t.send("c CAPABILITY\r\n");
    assert!(caps.contains(" COMPRESS=DEFLATE"), "{caps}");
    let r = t.send("d COMPRESS GZIP\r\n");
    assert!(r.starts_with("d BAD"), "{r}");
    t.s.receive(b"e COMPRESS DEFLATE\r\n");
    let step = t.s.step(&super::Creds);
    assert_eq!(
        String::from_utf8_lossy(&step.output),
        "e OK DEFLATE active\r\n"
    );
    assert_eq!(step.action, crate::proto::imap::session::Action::Compress);
    let r = t.send("f COMPRESS DEFLATE\r\ng CAPABILITY\r\n");
    assert!(r.starts_with("f NO [COMPRESSIONACTIVE]"), "{r}");
    assert!(!r.contains("COMPRESS=DEFLATE"), "{r}");
}

#[test]
fn catenate_builds_a_message_from_text_and_urls() {
    let mut t = T::new(true);
    let caps = t.send("a CAPABILITY\r\n");
    assert!(caps.contains(" CATENATE"), "{caps}");
    t.send("b LOGIN alice secret\r\n");
    let src = "Subject: src\r\nContent-Type: multipart/mixed; boundary=q\r\n\r\n--q\r\n\r\npart one\r\n--q\r\n\r\npart two\r\n--q--\r\n";
    let r = t.send(&format!("c APPEND INBOX {{{}+}}\r\n{src}\r\n", src.len()));
    let validity = r
        .split("[APPENDUID ")
        .nth(1)
        .and_then(|x| x.split(' ').next())
        .unwrap()
        .to_string();
    let r = t.send(&format!(
        "d APPEND Drafts CATENATE (TEXT {{14+}}\r\nSubject: new\r\n URL \"/INBOX;UIDVALIDITY={validity}/;UID=1/;SECTION=2\" TEXT {{2+}}\r\n!\n URL \"imap://alice@mx.test/INBOX/;UID=1/;SECTION=1/;PARTIAL=5.3\")\r\n"
    ));
    assert!(r.starts_with("d OK [APPENDUID "), "{r}");
    let r = t.send("e SELECT Drafts\r\nf FETCH 1 BODY.PEEK[]\r\n");
    assert!(
        r.contains("BODY[] {28}\r\nSubject: new\r\npart two!\r\none)"),
        "{r}"
    );
    let r = t.send("g APPEND Drafts CATENATE (URL \"/INBOX/;UID=99\")\r\n");
    assert!(r.starts_with("g NO [BADURL /INBOX/;UID=99]"), "{r}");
    let r = t.send("h APPEND Drafts CATENATE (URL \"/INBOX;UIDVALIDITY=1/;UID=1\")\r\n");
    assert!(r.starts_with("h NO [BADURL"), "{r}");
    let r = t.send("i STATUS Drafts (MESSAGES)\r\n");
    assert!(r.contains("(MESSAGES 1)"), "{r}");
}

#[test]
fn search_return_partial_gives_positions_of_the_result() {
    let mut t = T::new(true);
    t.send("a LOGIN alice secret\r\n");
    for i in 0..6 {
        t.deliver(&format!("m{i}"));
    }
    t.send("b SELECT INBOX\r\nc STORE 1,3:6 +FLAGS (\\Seen)\r\n");
    // Results 1 3 4 5 6: positions 2..3 are messages 3 and 4; 3:2 is the same range.
    let r = t.send("d SEARCH RETURN (PARTIAL 3:2) SEEN\r\n");
    assert!(
        r.starts_with("* ESEARCH (TAG \"d\") PARTIAL (2:3 3:4)\r\nd OK"),
        "{r}"
    );
    let r = t.send("e UID SEARCH RETURN (COUNT PARTIAL 5:9) SEEN\r\n");
    assert!(
        r.starts_with("* ESEARCH (TAG \"e\") UID PARTIAL (5:9 6) COUNT 5\r\ne OK"),
        "{r}"
    );
    let r = t.send("f SEARCH RETURN (PARTIAL 7:8) SEEN\r\n");
    assert!(
        r.starts_with("* ESEARCH (TAG \"f\") PARTIAL (7:8 NIL)\r\nf OK"),
        "{r}"
    );
    let r =
        t.send("g SEARCH RETURN (PARTIAL 0:3) SEEN\r\nh SEARCH RETURN (ALL PARTIAL 1:2) SEEN\r\n");
    assert!(r.contains("g BAD") && r.contains("h BAD"), "{r}");
}

#[test]
fn search_return_update_reports_additions_and_removals_until_cancelled() {
    let mut t = T::new(true);
    let caps = t.send("a CAPABILITY\r\n");
    for cap in ["CONTEXT=SEARCH", "CONTEXT=SORT", "ESORT"] {
        assert!(caps.contains(&format!(" {cap}")), "{cap}: {caps}");
    }
    t.send("a LOGIN alice secret\r\n");
    for i in 0..4 {
        t.deliver(&format!("m{i}"));
    }
    t.send("b SELECT INBOX\r\nc STORE 2,4 +FLAGS (\\Flagged)\r\n");
    let r = t.send("d UID SEARCH RETURN (UPDATE COUNT) FLAGGED\r\n");
    assert!(
        r.starts_with("* ESEARCH (TAG \"d\") UID COUNT 2\r\nd OK"),
        "{r}"
    );
    let r = t.send("e SEARCH RETURN (UPDATE) UNFLAGGED\r\n");
    assert!(r.starts_with("* ESEARCH (TAG \"e\")\r\ne OK"), "{r}");
    // The same tag again with UPDATE is refused and changes nothing.
    let r = t.send("d SEARCH RETURN (UPDATE) ALL\r\n");
    assert!(r.starts_with("d BAD"), "{r}");
    // Own STORE: message 1 leaves UNFLAGGED and joins FLAGGED.
    let r = t.send("f STORE 1 +FLAGS (\\Flagged)\r\n");
    let removal = r
        .find("* ESEARCH (TAG \"e\") REMOVEFROM (0 1)\r\n")
        .expect(&r);
    let addition = r
        .find("* ESEARCH (TAG \"d\") UID ADDTO (0 1)\r\n")
        .expect(&r);
    let fetch = r.find("* 1 FETCH").expect(&r);
    assert!(removal < fetch && fetch < addition, "{r}");
    // New mail from elsewhere: ADDTO after the EXISTS, numbered as after it.
    t.deliver("m4");
    let r = t.send("g NOOP\r\n");
    let exists = r.find("* 5 EXISTS\r\n").expect(&r);
    let addition = r.find("* ESEARCH (TAG \"e\") ADDTO (0 5)\r\n").expect(&r);
    assert!(exists < addition, "{r}");
    assert!(!r.contains("TAG \"d\""), "{r}");
    // Another session expunges message 3 (unflagged): REMOVEFROM numbered before the EXPUNGE.
    let mut u = t.other();
    u.send("h SELECT INBOX\r\ni STORE 3 +FLAGS (\\Deleted)\r\nj EXPUNGE\r\n");
    let r = t.send("k NOOP\r\n");
    let removal = r
        .find("* ESEARCH (TAG \"e\") REMOVEFROM (0 3)\r\n")
        .expect(&r);
    let expunge = r.find("* 3 EXPUNGE\r\n").expect(&r);
    assert!(removal < expunge, "{r}");
    // Nothing changed: nothing is reported.
    let r = t.send("l NOOP\r\n");
    assert!(!r.contains("ESEARCH"), "{r}");
    // IDLE carries updates too.
    let r = t.send("m IDLE\r\n");
    assert!(r.starts_with("+ "), "{r}");
    u.send("n STORE 1 -FLAGS (\\Flagged)\r\n");
    let r = String::from_utf8(t.s.idle_check()).unwrap();
    assert!(
        r.contains("* ESEARCH (TAG \"d\") UID REMOVEFROM (0 1)\r\n"),
        "{r}"
    );
    assert!(r.contains("* ESEARCH (TAG \"e\") ADDTO (0 1)\r\n"), "{r}");
    t.send("DONE\r\n");
    // CANCELUPDATE ends them; UNSELECT ends the rest.
    let r = t.send("o CANCELUPDATE \"d\"\r\n");
    assert!(r.starts_with("o OK"), "{r}");
    u.send("p STORE 2 -FLAGS (\\Flagged)\r\n");
    let r = t.send("q NOOP\r\n");
    assert!(!r.contains("TAG \"d\""), "{r}");
    assert!(r.contains("* ESEARCH (TAG \"e\") ADDTO (0 2)\r\n"), "{r}");
    t.send("r UNSELECT\r\ns SELECT INBOX\r\n");
    u.send("t STORE 2 +FLAGS (\\Flagged)\r\n");
    let r = t.send("u NOOP\r\n");
    assert!(!r.contains("ESEARCH"), "{r}");
    let r = t.send("v CANCELUPDATE\r\n");
    assert!(r.starts_with("v BAD"), "{r}");
}

#[test]
fn update_contexts_are_limited() {
    let mut t = T::new(true);
    t.send("a LOGIN alice secret\r\n");
    t.deliver("m0");
    t.send("b SELECT INBOX\r\n");
    for i in 0..10 {
        let r = t.send(&format!("s{i} SEARCH RETURN (UPDATE) ALL\r\n"));
        assert!(
            r.contains(&format!("s{i} OK")) && !r.contains("NOUPDATE"),
            "{r}"
        );
    }
    let r = t.send("x SEARCH RETURN (UPDATE COUNT) ALL\r\n");
    assert!(
        r.starts_with("* NO [NOUPDATE \"x\"] ")
            && r.contains("* ESEARCH (TAG \"x\") COUNT 1\r\nx OK"),
        "{r}"
    );
}
