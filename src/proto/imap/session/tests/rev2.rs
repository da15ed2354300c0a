//! IMAP4rev2 (RFC 9051) after `ENABLE IMAP4rev2`, item by item of its Appendix E, beside the
//! IMAP4rev1 behaviour a session keeps without it.

use super::T;

#[test]
fn both_revisions_are_advertised_and_rev2_is_enabled_once() {
    let mut t = T::new(true);
    let caps = t.send("a CAPABILITY\r\n");
    assert!(caps.contains(" IMAP4rev1 IMAP4rev2 "), "{caps}");
    assert!(caps.contains(" APPENDLIMIT=67108864"), "{caps}");
    // Appendix E item 1: the extensions IMAP4rev2 folds in are all offered.
    for ext in [
        "NAMESPACE",
        "UNSELECT",
        "UIDPLUS",
        "ESEARCH",
        "SEARCHRES",
        "ENABLE",
        "IDLE",
        "SASL-IR",
        "LIST-EXTENDED",
        "LIST-STATUS",
        "MOVE",
        "LITERAL+",
        "BINARY",
        "SPECIAL-USE",
        "STATUS=SIZE",
        "CHILDREN",
    ] {
        assert!(caps.contains(&format!(" {ext}")), "{ext}: {caps}");
    }
    t.send("b LOGIN alice secret\r\n");
    let r = t.send("c ENABLE IMAP4rev2\r\n");
    assert!(r.starts_with("* ENABLED IMAP4rev2\r\nc OK"), "{r}");
    let r = t.send("d ENABLE IMAP4rev2\r\n");
    assert!(r.starts_with("* ENABLED\r\nd OK"), "{r}");
}

#[test]
fn rev2_select_has_no_recent_no_unseen_and_a_list_line() {
    let mut t = T::new(true);
    t.send("a LOGIN alice secret\r\n");
    t.deliver("one");
    t.deliver("two");
    // IMAP4rev1 first: RECENT and UNSEEN as RFC 3501 has them.
    let r = t.send("b EXAMINE INBOX\r\n");
    assert!(r.contains("* 2 RECENT\r\n"), "{r}");
    assert!(r.contains("[UNSEEN 1]"), "{r}");
    assert!(!r.contains("* LIST"), "{r}");
    t.send("c UNSELECT\r\nd ENABLE IMAP4rev2\r\n");
    let r = t.send("e SELECT INBOX\r\n");
    assert!(!r.contains("RECENT"), "{r}");
    assert!(!r.contains("[UNSEEN"), "{r}");
    assert!(r.contains("* 2 EXISTS\r\n"), "{r}");
    assert!(
        r.contains("* LIST (\\HasNoChildren) \"/\" INBOX\r\n"),
        "{r}"
    );
    assert!(
        r.contains("[UIDVALIDITY ") && r.contains("[UIDNEXT 3]"),
        "{r}"
    );
    assert!(r.contains("[PERMANENTFLAGS ("), "{r}");
    // FETCH FLAGS never carry \Recent; new mail brings EXISTS but no RECENT.
    let r = t.send("f FETCH 1:* (FLAGS)\r\n");
    assert!(!r.contains("\\Recent"), "{r}");
    t.deliver("three");
    let r = t.send("g NOOP\r\n");
    assert!(r.contains("* 3 EXISTS\r\n"), "{r}");
    assert!(!r.contains("RECENT"), "{r}");
    let r = t.send("h FETCH 3 (FLAGS)\r\n");
    assert!(r.contains("* 3 FETCH (FLAGS ())\r\n"), "{r}");
}

#[test]
fn enabling_rev2_with_a_mailbox_selected_drops_recent_at_once() {
    let mut t = T::new(true);
    t.send("a LOGIN alice secret\r\n");
    t.deliver("one");
    let r = t.send("b SELECT INBOX\r\nc FETCH 1 (FLAGS)\r\n");
    assert!(r.contains("FLAGS (\\Recent)"), "{r}");
    let r = t.send("d ENABLE IMAP4rev2\r\ne FETCH 1 (FLAGS)\r\n");
    assert!(r.contains("* 1 FETCH (FLAGS ())\r\ne OK"), "{r}");
}

#[test]
fn rev2_search_is_answered_as_esearch() {
    let mut t = T::new(true);
    t.send("a LOGIN alice secret\r\n");
    for s in ["m0", "m1", "m2"] {
        t.deliver(s);
    }
    t.send("b SELECT INBOX\r\nc STORE 1,3 +FLAGS (\\Seen)\r\n");
    let r = t.send("d SEARCH SEEN\r\n");
    assert!(r.starts_with("* SEARCH 1 3\r\nd OK"), "{r}");
    t.send("e ENABLE IMAP4rev2\r\n");
    let r = t.send("f SEARCH SEEN\r\n");
    assert!(
        r.starts_with("* ESEARCH (TAG \"f\") ALL 1,3\r\nf OK"),
        "{r}"
    );
    let r = t.send("g UID SEARCH UNSEEN\r\n");
    assert!(
        r.starts_with("* ESEARCH (TAG \"g\") UID ALL 2\r\ng OK"),
        "{r}"
    );
    let r = t.send("h SEARCH SUBJECT nothing\r\n");
    assert!(r.starts_with("* ESEARCH (TAG \"h\")\r\nh OK"), "{r}");
    let r = t.send("i SEARCH RETURN (COUNT) ALL\r\n");
    assert!(
        r.starts_with("* ESEARCH (TAG \"i\") COUNT 3\r\ni OK"),
        "{r}"
    );
}

#[test]
fn rev2_status_has_size_and_deleted() {
    let mut t = T::new(true);
    t.send("a LOGIN alice secret\r\nb ENABLE IMAP4rev2\r\n");
    t.deliver("one");
    t.deliver("two");
    t.send("c SELECT INBOX\r\nd STORE 2 +FLAGS (\\Deleted)\r\ne UNSELECT\r\n");
    let r = t.send("f STATUS INBOX (MESSAGES DELETED SIZE)\r\n");
    assert!(
        r.contains("* STATUS INBOX (MESSAGES 2 DELETED 1 SIZE "),
        "{r}"
    );
    assert!(r.contains("f OK"), "{r}");
}

#[test]
fn rev2_mailbox_names_are_utf8_and_rev1_names_modified_utf7() {
    let mut t = T::new(true);
    t.send("a LOGIN alice secret\r\n");
    // IMAP4rev1: modified UTF-7 in and out.
    let r = t.send("b CREATE \"Entw&APw-rfe\"\r\nc LIST \"\" \"Entw*\"\r\n");
    assert!(r.contains("b OK"), "{r}");
    assert!(
        r.contains("* LIST (\\HasNoChildren) \"/\" Entw&APw-rfe\r\n"),
        "{r}"
    );
    t.send("d ENABLE IMAP4rev2\r\n");
    // IMAP4rev2: the same mailbox in UTF-8; `&` is an ordinary character.
    let r = t.send("e LIST \"\" \"Entw*\"\r\n");
    assert!(
        r.contains("* LIST (\\HasNoChildren) \"/\" {9}\r\nEntwürfe\r\n"),
        "{r}"
    );
    let r = t.send("f STATUS \"Entwürfe\" (MESSAGES)\r\n");
    assert!(
        r.contains("* STATUS {9}\r\nEntwürfe (MESSAGES 0)\r\nf OK"),
        "{r}"
    );
    let r = t.send("g CREATE \"R&D\"\r\nh LIST \"\" R*\r\n");
    assert!(r.contains("g OK"), "{r}");
    assert!(
        r.contains("\"/\" \"R&D\"\r\n") || r.contains("\"/\" R&D\r\n"),
        "{r}"
    );
    let r = t.send("i SELECT \"Entwürfe\"\r\n");
    assert!(
        r.contains("* LIST (\\HasNoChildren) \"/\" {9}\r\nEntwürfe\r\n"),
        "{r}"
    );
    assert!(r.contains("i OK [READ-WRITE]"), "{r}");
    // A rev1 session sees the rev2 session's new name in modified UTF-7.
    let mut u = t.other();
    let r = u.send("j LIST \"\" R*\r\n");
    assert!(r.contains("\"/\" R&-D\r\n"), "{r}");
}
