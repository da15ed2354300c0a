use super::*;

fn s(f: impl FnOnce(&mut Vec<u8>)) -> String {
    let mut out = Vec::new();
    f(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn string_choice_table() {
    let cases: &[(&[u8], &str)] = &[
        (b"hello", "\"hello\""),
        (b"", "\"\""),
        (b"say \"hi\"", "\"say \\\"hi\\\"\""),
        (b"back\\slash", "\"back\\\\slash\""),
        (b"two\r\nlines", "{10}\r\ntwo\r\nlines"),
        ("caf\u{e9}".as_bytes(), "{5}\r\ncaf\u{e9}"),
        (b"nul\0", "{4}\r\nnul\0"),
    ];
    for &(input, want) in cases {
        assert_eq!(s(|o| write_string(o, input)), want);
    }
    let long = vec![b'a'; MAX_QUOTED + 1];
    assert!(s(|o| write_string(o, &long)).starts_with("{1025}\r\n"));
}

#[test]
fn astring_and_nstring() {
    assert_eq!(s(|o| write_astring(o, b"INBOX")), "INBOX");
    assert_eq!(s(|o| write_astring(o, b"Sent Items")), "\"Sent Items\"");
    assert_eq!(s(|o| write_astring(o, b"nil")), "\"nil\"");
    assert_eq!(s(|o| write_astring(o, b"")), "\"\"");
    assert_eq!(s(|o| write_astring(o, b"a%b")), "\"a%b\"");
    assert_eq!(s(|o| write_nstring(o, None)), "NIL");
    assert_eq!(s(|o| write_nstring(o, Some(b"x"))), "\"x\"");
}

#[test]
fn status_responses_with_codes() {
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            tagged("a1", Status::Ok, Some(&Code::ReadWrite), "SELECT completed"),
            "a1 OK [READ-WRITE] SELECT completed\r\n",
        ),
        (
            tagged("a2", Status::No, Some(&Code::TryCreate), "no such mailbox"),
            "a2 NO [TRYCREATE] no such mailbox\r\n",
        ),
        (
            untagged_status(
                Status::Ok,
                Some(&Code::UidValidity(3857529045)),
                "UIDs valid",
            ),
            "* OK [UIDVALIDITY 3857529045] UIDs valid\r\n",
        ),
        (
            untagged_status(Status::Ok, Some(&Code::UidNext(4392)), "Predicted next UID"),
            "* OK [UIDNEXT 4392] Predicted next UID\r\n",
        ),
        (
            untagged_status(Status::Ok, Some(&Code::Unseen(12)), "first unseen"),
            "* OK [UNSEEN 12] first unseen\r\n",
        ),
        (
            tagged(
                "A003",
                Status::Ok,
                Some(&Code::AppendUid {
                    validity: 38505,
                    uids: SequenceSet::single(3955),
                }),
                "APPEND completed",
            ),
            "A003 OK [APPENDUID 38505 3955] APPEND completed\r\n",
        ),
        (
            tagged(
                "A004",
                Status::Ok,
                Some(&Code::CopyUid {
                    validity: 38505,
                    source: SequenceSet::parse(b"304,319:320").unwrap(),
                    dest: SequenceSet::parse(b"3956:3958").unwrap(),
                }),
                "Done",
            ),
            "A004 OK [COPYUID 38505 304,319:320 3956:3958] Done\r\n",
        ),
        (
            untagged_status(
                Status::Ok,
                Some(&Code::HighestModSeq(715194045007)),
                "Highest",
            ),
            "* OK [HIGHESTMODSEQ 715194045007] Highest\r\n",
        ),
        (
            untagged_status(
                Status::Ok,
                Some(&Code::PermanentFlags {
                    flags: vec![Flag::Deleted, Flag::Seen],
                    allow_new: true,
                }),
                "Limited",
            ),
            "* OK [PERMANENTFLAGS (\\Deleted \\Seen \\*)] Limited\r\n",
        ),
        (
            tagged(
                "t",
                Status::No,
                Some(&Code::BadCharset(vec!["UTF-8".into(), "US-ASCII".into()])),
                "charset",
            ),
            "t NO [BADCHARSET (UTF-8 US-ASCII)] charset\r\n",
        ),
        (
            untagged_status(
                Status::Ok,
                Some(&Code::Capability(vec!["IMAP4rev1".into(), "IDLE".into()])),
                "ready",
            ),
            "* OK [CAPABILITY IMAP4rev1 IDLE] ready\r\n",
        ),
        (
            untagged_status(Status::Ok, Some(&Code::Alert), "line\r\nbreak"),
            "* OK [ALERT] line  break\r\n",
        ),
        (tagged("x", Status::Bad, None, "bad"), "x BAD bad\r\n"),
        (
            tagged(
                "m",
                Status::Ok,
                Some(&Code::Modified(SequenceSet::parse(b"7,9").unwrap())),
                "Conditional STORE failed",
            ),
            "m OK [MODIFIED 7,9] Conditional STORE failed\r\n",
        ),
    ];
    for (got, want) in cases {
        assert_eq!(String::from_utf8(got).unwrap(), want);
    }
}

#[test]
fn data_lines() {
    assert_eq!(exists(172), b"* 172 EXISTS\r\n");
    assert_eq!(recent(1), b"* 1 RECENT\r\n");
    assert_eq!(expunge(3), b"* 3 EXPUNGE\r\n");
    assert_eq!(
        flags(&[Flag::Answered, Flag::Keyword("$Junk".into())]),
        b"* FLAGS (\\Answered $Junk)\r\n"
    );
    assert_eq!(
        list(false, &["\\HasNoChildren"], Some('/'), "Sent Items"),
        b"* LIST (\\HasNoChildren) \"/\" \"Sent Items\"\r\n".to_vec()
    );
    assert_eq!(
        list(true, &[], None, "INBOX"),
        b"* LSUB () NIL INBOX\r\n".to_vec()
    );
    assert_eq!(
        status(
            "blurdybloop",
            &[(StatusItem::Messages, 231), (StatusItem::UidNext, 44292)]
        ),
        b"* STATUS blurdybloop (MESSAGES 231 UIDNEXT 44292)\r\n".to_vec()
    );
    assert_eq!(search(&[2, 84, 882], None), b"* SEARCH 2 84 882\r\n");
    assert_eq!(search(&[], Some(9)), b"* SEARCH (MODSEQ 9)\r\n");
    assert_eq!(search(&[], None), b"* SEARCH\r\n");
    assert_eq!(
        namespace_personal("", '/'),
        b"* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n"
    );
    assert_eq!(
        id(&[("name", "postern")]),
        b"* ID (\"name\" \"postern\")\r\n"
    );
    assert_eq!(enabled(&["CONDSTORE"]), b"* ENABLED CONDSTORE\r\n");
    assert_eq!(continuation("Ready"), b"+ Ready\r\n");
    assert_eq!(
        capability(&["IMAP4rev1", "IDLE"]),
        b"* CAPABILITY IMAP4rev1 IDLE\r\n"
    );
}
