use super::*;
use crate::proto::imap::command::{ListReturnOption, ListSelectOption};
use crate::proto::imap::datetime::Date;
use crate::proto::imap::fetch::{FetchAttribute, Partial};
use crate::proto::imap::flag::Flag;
use crate::proto::imap::search::{ModSeqEntry, SearchKey};
use crate::proto::imap::section::{Section, SectionText};
use crate::proto::imap::sequence::SequenceSet;

fn parse(text: &str) -> CommandKind {
    let input = format!("{text}\r\n");
    match parse_command(input.as_bytes()) {
        Ok(c) => c.kind,
        Err(e) => panic!("{text:?}: {e:?}"),
    }
}

fn set(text: &str) -> SequenceSet {
    SequenceSet::parse(text.as_bytes()).unwrap()
}

fn date(y: i32, m: u8, d: u8) -> Date {
    Date::new(y, m, d).unwrap()
}

#[test]
fn rfc3501_section8_sample_session() {
    let cases: Vec<(&str, CommandKind)> = vec![
        (
            "a001 login mrc secret",
            CommandKind::Login {
                username: "mrc".into(),
                password: "secret".into(),
            },
        ),
        (
            "a002 select inbox",
            CommandKind::Select {
                mailbox: "inbox".into(),
                condstore: false,
                qresync: None,
            },
        ),
        (
            "a003 fetch 12 full",
            CommandKind::Fetch {
                uid: false,
                set: set("12"),
                attributes: FetchAttribute::full(),
                changed_since: None,
                vanished: false,
            },
        ),
        (
            "a004 fetch 12 body[header]",
            CommandKind::Fetch {
                uid: false,
                set: set("12"),
                attributes: vec![FetchAttribute::BodySection {
                    section: Section {
                        part: vec![],
                        text: Some(SectionText::Header),
                    },
                    partial: None,
                    peek: false,
                }],
                changed_since: None,
                vanished: false,
            },
        ),
        (
            "a005 store 12 +flags \\deleted",
            CommandKind::Store {
                uid: false,
                set: set("12"),
                unchanged_since: None,
                mode: StoreMode::Add,
                silent: false,
                flags: vec![Flag::Deleted],
            },
        ),
        ("a006 logout", CommandKind::Logout),
    ];
    for (text, want) in cases {
        assert_eq!(parse(text), want, "{text}");
    }
}

#[test]
fn rfc3501_examples_parse() {
    let cases: Vec<(&str, CommandKind)> = vec![
        ("a441 CAPABILITY", CommandKind::Capability),
        ("a047 NOOP", CommandKind::Noop),
        ("a002 STARTTLS", CommandKind::StartTls),
        (
            "A001 AUTHENTICATE GSSAPI",
            CommandKind::Authenticate {
                mechanism: "GSSAPI".into(),
                initial_response: None,
            },
        ),
        (
            "A002 AUTHENTICATE plain dGVzdAB0ZXN0AHRlc3Q=",
            CommandKind::Authenticate {
                mechanism: "PLAIN".into(),
                initial_response: Some("dGVzdAB0ZXN0AHRlc3Q=".into()),
            },
        ),
        (
            "A003 AUTHENTICATE PLAIN =",
            CommandKind::Authenticate {
                mechanism: "PLAIN".into(),
                initial_response: Some("=".into()),
            },
        ),
        (
            "A932 EXAMINE blurdybloop",
            CommandKind::Examine {
                mailbox: "blurdybloop".into(),
                condstore: false,
                qresync: None,
            },
        ),
        (
            "A003 CREATE owatagusiam/",
            CommandKind::Create {
                mailbox: "owatagusiam/".into(),
                special_use: vec![],
            },
        ),
        (
            "A683 DELETE blurdybloop",
            CommandKind::Delete {
                mailbox: "blurdybloop".into(),
            },
        ),
        (
            "A683 RENAME blurdybloop sarasoop",
            CommandKind::Rename {
                from: "blurdybloop".into(),
                to: "sarasoop".into(),
            },
        ),
        (
            "A002 SUBSCRIBE #news.comp.mail.mime",
            CommandKind::Subscribe {
                mailbox: "#news.comp.mail.mime".into(),
            },
        ),
        (
            "A002 UNSUBSCRIBE \"#news.comp.mail.mime\"",
            CommandKind::Unsubscribe {
                mailbox: "#news.comp.mail.mime".into(),
            },
        ),
        (
            "A101 LIST \"\" \"\"",
            CommandKind::List {
                reference: "".into(),
                patterns: vec!["".into()],
                select: vec![],
                returns: vec![],
            },
        ),
        (
            "A202 LIST ~/Mail/ %",
            CommandKind::List {
                reference: "~/Mail/".into(),
                patterns: vec!["%".into()],
                select: vec![],
                returns: vec![],
            },
        ),
        (
            "A002 LSUB \"#news.\" \"comp.mail.*\"",
            CommandKind::Lsub {
                reference: "#news.".into(),
                pattern: "comp.mail.*".into(),
            },
        ),
        (
            "A042 STATUS blurdybloop (UIDNEXT MESSAGES)",
            CommandKind::Status {
                mailbox: "blurdybloop".into(),
                items: vec![StatusItem::UidNext, StatusItem::Messages],
            },
        ),
        ("FXXZ CHECK", CommandKind::Check),
        ("A341 CLOSE", CommandKind::Close),
        ("A202 EXPUNGE", CommandKind::Expunge { uids: None }),
        (
            "A282 SEARCH FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\"",
            CommandKind::Search {
                uid: false,
                charset: None,
                criteria: SearchKey::And(vec![
                    SearchKey::Flagged,
                    SearchKey::Since(date(1994, 2, 1)),
                    SearchKey::Not(Box::new(SearchKey::From("Smith".into()))),
                ]),
                returns: None,
            },
        ),
        (
            "A283 SEARCH TEXT \"string not in mailbox\"",
            CommandKind::Search {
                uid: false,
                charset: None,
                criteria: SearchKey::Text("string not in mailbox".into()),
                returns: None,
            },
        ),
        (
            "A284 SEARCH CHARSET UTF-8 TEXT {6}\r\nXXXXXX",
            CommandKind::Search {
                uid: false,
                charset: Some("UTF-8".into()),
                criteria: SearchKey::Text("XXXXXX".into()),
                returns: None,
            },
        ),
        (
            "A654 FETCH 2:4 (FLAGS BODY[HEADER.FIELDS (DATE FROM)])",
            CommandKind::Fetch {
                uid: false,
                set: set("2:4"),
                attributes: vec![
                    FetchAttribute::Flags,
                    FetchAttribute::BodySection {
                        section: Section {
                            part: vec![],
                            text: Some(SectionText::HeaderFields(vec![
                                "DATE".into(),
                                "FROM".into(),
                            ])),
                        },
                        partial: None,
                        peek: false,
                    },
                ],
                changed_since: None,
                vanished: false,
            },
        ),
        (
            "A003 STORE 2:4 +FLAGS (\\Deleted)",
            CommandKind::Store {
                uid: false,
                set: set("2:4"),
                unchanged_since: None,
                mode: StoreMode::Add,
                silent: false,
                flags: vec![Flag::Deleted],
            },
        ),
        (
            "A003 COPY 2:4 MEETING",
            CommandKind::Copy {
                uid: false,
                set: set("2:4"),
                mailbox: "MEETING".into(),
            },
        ),
        (
            "A999 UID FETCH 4827313:4828442 FLAGS",
            CommandKind::Fetch {
                uid: true,
                set: set("4827313:4828442"),
                attributes: vec![FetchAttribute::Flags],
                changed_since: None,
                vanished: false,
            },
        ),
        ("A023 LOGOUT", CommandKind::Logout),
    ];
    for (text, want) in cases {
        assert_eq!(parse(text), want, "{text}");
    }
}

#[test]
fn append_with_flags_date_and_literal() {
    let msg = "Date: Mon, 7 Feb 1994 21:52:25 -0800\r\n\r\nHello\r\n";
    let text = format!(
        "A003 APPEND saved-messages (\\Seen) \"07-Feb-1994 21:52:25 -0800\" {{{}}}\r\n{msg}",
        msg.len()
    );
    match parse(&text) {
        CommandKind::Append {
            mailbox,
            flags,
            internal_date,
            message,
            catenate,
            more,
        } => {
            assert!(more.is_empty() && catenate.is_none());
            assert_eq!(mailbox, "saved-messages");
            assert_eq!(flags, vec![Flag::Seen]);
            assert_eq!(
                internal_date.unwrap().to_string(),
                "07-Feb-1994 21:52:25 -0800"
            );
            assert_eq!(message, msg.as_bytes());
        }
        other => panic!("{other:?}"),
    }
    // LITERAL+ and no flags or date.
    match parse("A4 APPEND INBOX {5+}\r\nHello") {
        CommandKind::Append {
            flags,
            internal_date,
            message,
            ..
        } => {
            assert!(flags.is_empty() && internal_date.is_none());
            assert_eq!(message, b"Hello");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn extensions_parse() {
    let cases: Vec<(&str, CommandKind)> = vec![
        ("A001 IDLE", CommandKind::Idle),
        ("A1 NAMESPACE", CommandKind::Namespace),
        ("A2 UNSELECT", CommandKind::Unselect),
        (
            "A3 ENABLE CONDSTORE qresync",
            CommandKind::Enable(vec!["CONDSTORE".into(), "QRESYNC".into()]),
        ),
        ("A4 ID NIL", CommandKind::Id(None)),
        (
            "A5 ID (\"name\" \"sodr\" \"version\" NIL)",
            CommandKind::Id(Some(vec![
                ("name".into(), Some("sodr".into())),
                ("version".into(), None),
            ])),
        ),
        (
            "A5b ID ( \"name\" \"x\" )",
            CommandKind::Id(Some(vec![("name".into(), Some("x".into()))])),
        ),
        (
            "A5c ID (\"name\"  \"x\"   \"os\" NIL)",
            CommandKind::Id(Some(vec![
                ("name".into(), Some("x".into())),
                ("os".into(), None),
            ])),
        ),
        ("A5d ID ()", CommandKind::Id(Some(Vec::new()))),
        (
            "A6 UID EXPUNGE 3000:3002",
            CommandKind::Expunge {
                uids: Some(set("3000:3002")),
            },
        ),
        (
            "A7 UID MOVE 42:69 foo",
            CommandKind::Move {
                uid: true,
                set: set("42:69"),
                mailbox: "foo".into(),
            },
        ),
        (
            "A8 MOVE 1,3 Trash",
            CommandKind::Move {
                uid: false,
                set: set("1,3"),
                mailbox: "Trash".into(),
            },
        ),
        (
            "A9 SELECT INBOX (CONDSTORE)",
            CommandKind::Select {
                mailbox: "INBOX".into(),
                condstore: true,
                qresync: None,
            },
        ),
        (
            "A10 FETCH 1:* (FLAGS) (CHANGEDSINCE 12345)",
            CommandKind::Fetch {
                uid: false,
                set: set("1:*"),
                attributes: vec![FetchAttribute::Flags],
                changed_since: Some(12345),
                vanished: false,
            },
        ),
        (
            "A11 STORE 1 (UNCHANGEDSINCE 320162338) +FLAGS.SILENT (\\Deleted)",
            CommandKind::Store {
                uid: false,
                set: set("1"),
                unchanged_since: Some(320162338),
                mode: StoreMode::Add,
                silent: true,
                flags: vec![Flag::Deleted],
            },
        ),
        (
            "A12 SEARCH MODSEQ \"/flags/\\\\draft\" all 620162338",
            CommandKind::Search {
                uid: false,
                charset: None,
                criteria: SearchKey::ModSeq {
                    entry: Some(ModSeqEntry {
                        name: "/flags/\\draft".into(),
                        kind: "ALL".into(),
                    }),
                    modseq: 620162338,
                },
                returns: None,
            },
        ),
        (
            "A13 LIST (SPECIAL-USE) \"\" \"*\"",
            CommandKind::List {
                reference: "".into(),
                patterns: vec!["*".into()],
                select: vec![ListSelectOption::SpecialUse],
                returns: vec![],
            },
        ),
        (
            "A14 LIST \"\" (INBOX Sent) RETURN (SPECIAL-USE CHILDREN STATUS (MESSAGES))",
            CommandKind::List {
                reference: "".into(),
                patterns: vec!["INBOX".into(), "Sent".into()],
                select: vec![],
                returns: vec![
                    ListReturnOption::SpecialUse,
                    ListReturnOption::Children,
                    ListReturnOption::Status(vec![StatusItem::Messages]),
                ],
            },
        ),
        (
            "A15 CREATE MySpecial (USE (\\Drafts \\Sent))",
            CommandKind::Create {
                mailbox: "MySpecial".into(),
                special_use: vec!["Drafts".into(), "Sent".into()],
            },
        ),
        (
            "A16 STATUS INBOX (HIGHESTMODSEQ UNSEEN UIDVALIDITY RECENT SIZE DELETED)",
            CommandKind::Status {
                mailbox: "INBOX".into(),
                items: vec![
                    StatusItem::HighestModSeq,
                    StatusItem::Unseen,
                    StatusItem::UidValidity,
                    StatusItem::Recent,
                    StatusItem::Size,
                    StatusItem::Deleted,
                ],
            },
        ),
        (
            "A17 LOGIN {11+}\r\nFRED FOOBAR {7+}\r\nfat man",
            CommandKind::Login {
                username: "FRED FOOBAR".into(),
                password: "fat man".into(),
            },
        ),
        (
            "A18 UID SEARCH UID 1:*",
            CommandKind::Search {
                uid: true,
                charset: None,
                criteria: SearchKey::Uid(set("1:*")),
                returns: None,
            },
        ),
        (
            "A19 UID STORE 5 FLAGS ($Forwarded \\Seen)",
            CommandKind::Store {
                uid: true,
                set: set("5"),
                unchanged_since: None,
                mode: StoreMode::Replace,
                silent: false,
                flags: vec![Flag::Keyword("$Forwarded".into()), Flag::Seen],
            },
        ),
        (
            "A20 STORE 5 -FLAGS \\Seen \\Flagged",
            CommandKind::Store {
                uid: false,
                set: set("5"),
                unchanged_since: None,
                mode: StoreMode::Remove,
                silent: false,
                flags: vec![Flag::Seen, Flag::Flagged],
            },
        ),
        (
            "A21 UID COPY 1:3 \"Sent Items\"",
            CommandKind::Copy {
                uid: true,
                set: set("1:3"),
                mailbox: "Sent Items".into(),
            },
        ),
    ];
    for (text, want) in cases {
        assert_eq!(parse(text), want, "{text}");
    }
}

#[test]
fn fetch_attributes_table() {
    let body = |part: Vec<u32>, text: Option<SectionText>, partial: Option<Partial>, peek: bool| {
        FetchAttribute::BodySection {
            section: Section { part, text },
            partial,
            peek,
        }
    };
    let cases: Vec<(&str, Vec<FetchAttribute>)> = vec![
        ("ALL", FetchAttribute::all()),
        ("fast", FetchAttribute::fast()),
        (
            "(UID RFC822.SIZE FLAGS INTERNALDATE ENVELOPE)",
            vec![
                FetchAttribute::Uid,
                FetchAttribute::Rfc822Size,
                FetchAttribute::Flags,
                FetchAttribute::InternalDate,
                FetchAttribute::Envelope,
            ],
        ),
        (
            "(BODY BODYSTRUCTURE MODSEQ)",
            vec![
                FetchAttribute::Body,
                FetchAttribute::BodyStructure,
                FetchAttribute::ModSeq,
            ],
        ),
        (
            "(RFC822 RFC822.HEADER RFC822.TEXT)",
            vec![
                FetchAttribute::Rfc822,
                FetchAttribute::Rfc822Header,
                FetchAttribute::Rfc822Text,
            ],
        ),
        ("BODY[]", vec![body(vec![], None, None, false)]),
        (
            "BODY.PEEK[]<0.2048>",
            vec![body(
                vec![],
                None,
                Some(Partial {
                    origin: 0,
                    count: 2048,
                }),
                true,
            )],
        ),
        ("BODY[1.2.3]", vec![body(vec![1, 2, 3], None, None, false)]),
        (
            "BODY[1.MIME]",
            vec![body(vec![1], Some(SectionText::Mime), None, false)],
        ),
        (
            "BODY[2.TEXT]",
            vec![body(vec![2], Some(SectionText::Text), None, false)],
        ),
        (
            "BODY.PEEK[HEADER.FIELDS.NOT (Received \"X-Spam\")]",
            vec![body(
                vec![],
                Some(SectionText::HeaderFieldsNot(vec![
                    "Received".into(),
                    "X-Spam".into(),
                ])),
                None,
                true,
            )],
        ),
        (
            "BODY[TEXT]<100.50>",
            vec![body(
                vec![],
                Some(SectionText::Text),
                Some(Partial {
                    origin: 100,
                    count: 50,
                }),
                false,
            )],
        ),
    ];
    for (text, want) in cases {
        match parse(&format!("a FETCH 1 {text}")) {
            CommandKind::Fetch { attributes, .. } => assert_eq!(attributes, want, "{text}"),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn search_keys_table() {
    use SearchKey::*;
    let cases: Vec<(&str, SearchKey)> = vec![
        ("ALL", All),
        (
            "ANSWERED DELETED DRAFT FLAGGED NEW OLD RECENT SEEN",
            And(vec![
                Answered, Deleted, Draft, Flagged, New, Old, Recent, Seen,
            ]),
        ),
        (
            "UNANSWERED UNDELETED UNDRAFT UNFLAGGED UNSEEN",
            And(vec![Unanswered, Undeleted, Undraft, Unflagged, Unseen]),
        ),
        (
            "BCC a CC b FROM c TO d SUBJECT \"e f\" BODY g TEXT h",
            And(vec![
                Bcc("a".into()),
                Cc("b".into()),
                From("c".into()),
                To("d".into()),
                Subject("e f".into()),
                Body("g".into()),
                Text("h".into()),
            ]),
        ),
        (
            "HEADER Message-ID \"<x@y>\"",
            Header("Message-ID".into(), "<x@y>".into()),
        ),
        (
            "KEYWORD $Junk UNKEYWORD NonJunk",
            And(vec![Keyword("$Junk".into()), Unkeyword("NonJunk".into())]),
        ),
        (
            "LARGER 1000 SMALLER 5000",
            And(vec![Larger(1000), Smaller(5000)]),
        ),
        (
            "BEFORE 1-Jan-2020 ON \"02-Feb-2021\" SINCE 3-Mar-2022",
            And(vec![
                Before(date(2020, 1, 1)),
                On(date(2021, 2, 2)),
                Since(date(2022, 3, 3)),
            ]),
        ),
        (
            "SENTBEFORE 1-Jan-2020 SENTON 2-Feb-2021 SENTSINCE 3-Mar-2022",
            And(vec![
                SentBefore(date(2020, 1, 1)),
                SentOn(date(2021, 2, 2)),
                SentSince(date(2022, 3, 3)),
            ]),
        ),
        (
            "OR SEEN (FLAGGED DELETED)",
            Or(Box::new(Seen), Box::new(And(vec![Flagged, Deleted]))),
        ),
        ("NOT NOT SEEN", Not(Box::new(Not(Box::new(Seen))))),
        (
            "1:3,5 UID 7:*",
            And(vec![Sequence(set("1:3,5")), Uid(set("7:*"))]),
        ),
        ("*", Sequence(set("*"))),
        ("(SEEN)", Seen),
        (
            "MODSEQ 5",
            ModSeq {
                entry: None,
                modseq: 5,
            },
        ),
        ("charset us-ascii SEEN", Seen),
    ];
    for (text, want) in cases {
        match parse(&format!("a SEARCH {text}")) {
            CommandKind::Search { criteria, .. } => assert_eq!(criteria, want, "{text}"),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn bad_commands_report_tag_and_reason() {
    let cases: &[(&str, Option<&str>, ParseErrorKind)] = &[
        ("", None, ParseErrorKind::BadTag),
        ("+ NOOP", None, ParseErrorKind::BadTag),
        ("a1", Some("a1"), ParseErrorKind::Expected("a space")),
        (
            "a1 FROB",
            Some("a1"),
            ParseErrorKind::UnknownCommand("FROB".into()),
        ),
        (
            "a1 UID FROB 1",
            Some("a1"),
            ParseErrorKind::UnknownCommand("UID FROB".into()),
        ),
        ("a1 NOOP extra", Some("a1"), ParseErrorKind::TrailingData),
        (
            "a2 FETCH 0 FLAGS",
            Some("a2"),
            ParseErrorKind::BadSequence(crate::proto::imap::sequence::SequenceError::BadNumber),
        ),
        (
            "a3 FETCH 1 (FLAGS",
            Some("a3"),
            ParseErrorKind::Expected("')' (unbalanced parentheses)"),
        ),
        (
            "a4 FETCH 1 (FLAGS))",
            Some("a4"),
            ParseErrorKind::TrailingData,
        ),
        (
            "a5 FETCH 1 BODY[FOO]",
            Some("a5"),
            ParseErrorKind::Unknown("section"),
        ),
        (
            "a5 FETCH 1 BODY[MIME]",
            Some("a5"),
            ParseErrorKind::Unknown("section"),
        ),
        (
            "a6 FETCH 1 FROB",
            Some("a6"),
            ParseErrorKind::Unknown("fetch attribute"),
        ),
        (
            "a7 SEARCH CHARSET KOI8-R TEXT x",
            Some("a7"),
            ParseErrorKind::BadCharset("KOI8-R".into()),
        ),
        (
            "a8 SEARCH FROB",
            Some("a8"),
            ParseErrorKind::Unknown("search key"),
        ),
        (
            "a9 SEARCH SINCE 31-Feb-2020",
            Some("a9"),
            ParseErrorKind::BadDate,
        ),
        (
            "b1 LOGIN \"unterminated",
            Some("b1"),
            ParseErrorKind::UnterminatedQuote,
        ),
        ("b2 LOGIN \"a\\x\" b", Some("b2"), ParseErrorKind::BadEscape),
        (
            "b3 STORE 1 +FLAGS (\\)",
            Some("b3"),
            ParseErrorKind::BadFlag,
        ),
        (
            "b4 STATUS x (FOO)",
            Some("b4"),
            ParseErrorKind::Unknown("status item"),
        ),
        (
            "b5 SELECT x (FOO)",
            Some("b5"),
            ParseErrorKind::Unknown("select parameter"),
        ),
        (
            "b6 APPEND x \"99-Foo-2020 00:00:00 +0000\" {1}\r\nx",
            Some("b6"),
            ParseErrorKind::BadDate,
        ),
        (
            "b7 LOGIN {5}\r\nab",
            Some("b7"),
            ParseErrorKind::Expected("literal data"),
        ),
        (
            "b8 SEARCH ((((SEEN))",
            Some("b8"),
            ParseErrorKind::Expected("')' (unbalanced parentheses)"),
        ),
    ];
    for (text, tag, kind) in cases {
        let input = format!("{text}\r\n");
        let err = parse_command(input.as_bytes()).unwrap_err();
        assert_eq!(err.tag.as_deref(), *tag, "{text}");
        assert_eq!(&err.kind, kind, "{text}");
    }
}

#[test]
fn deep_search_nesting_is_refused() {
    let deep = format!("a SEARCH {}SEEN{}\r\n", "(".repeat(100), ")".repeat(100));
    assert_eq!(
        parse_command(deep.as_bytes()).unwrap_err().kind,
        ParseErrorKind::TooMany
    );
    let nots = format!("a SEARCH {}SEEN\r\n", "NOT ".repeat(100));
    assert_eq!(
        parse_command(nots.as_bytes()).unwrap_err().kind,
        ParseErrorKind::TooMany
    );
    let ok = format!("a SEARCH {}SEEN{}\r\n", "(".repeat(10), ")".repeat(10));
    assert!(parse_command(ok.as_bytes()).is_ok());
}

#[test]
fn bare_lf_line_end_is_accepted() {
    assert_eq!(parse_command(b"a NOOP\n").unwrap().kind, CommandKind::Noop);
}

#[test]
fn peek_tag_table() {
    assert_eq!(peek_tag(b"a1 FOO"), Some("a1".into()));
    assert_eq!(peek_tag(b"a1\r\n"), Some("a1".into()));
    assert_eq!(peek_tag(b"(bad"), None);
    assert_eq!(peek_tag(b""), None);
}

#[test]
fn random_bytes_never_panic() {
    // A small deterministic xorshift generator: no extra crates.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let alphabet = b"a1 ()[]<>{}+*%:,.\"\\\r\nFETCHBODYSEARCHUIDNOTORHEADERLIST0123456789";
    for _ in 0..20_000 {
        let len = (next() % 60) as usize;
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                let r = next();
                if r % 7 == 0 {
                    (r >> 8) as u8
                } else {
                    alphabet[(r >> 8) as usize % alphabet.len()]
                }
            })
            .collect();
        let _ = parse_command(&bytes);
        let mut prefixed = b"t FETCH 1 ".to_vec();
        prefixed.extend_from_slice(&bytes);
        let _ = parse_command(&prefixed);
        let mut search = b"t SEARCH ".to_vec();
        search.extend_from_slice(&bytes);
        let _ = parse_command(&search);
    }
}

#[test]
fn real_client_commands_parse() {
    // Shapes seen from Thunderbird, Apple Mail, Outlook, mutt, K-9, offlineimap, imaplib, curl.
    let lines = [
        "1 capability",
        "2 ID (\"name\" \"Thunderbird\" \"version\" \"115.0\")",
        "3 authenticate PLAIN",
        "4 select \"INBOX\"",
        "5 UID fetch 1:* (FLAGS)",
        "6 UID fetch 300:* (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (From To Cc Bcc Subject Date Message-ID Priority X-Priority References Newsgroups In-Reply-To Content-Type Reply-To)])",
        "7 FETCH 1:3 (UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER.FIELDS (DATE FROM SENDER SUBJECT TO CC MESSAGE-ID REFERENCES CONTENT-TYPE CONTENT-DESCRIPTION IN-REPLY-TO REPLY-TO LINES LIST-POST X-LABEL X-ORIGINAL-TO)])",
        "8 UID FETCH 5 (BODY.PEEK[1]<0.1024> BODY.PEEK[1.MIME] BODY.PEEK[2.1.HEADER])",
        "9 UID STORE 5 +FLAGS.SILENT (\\Seen)",
        "10 UID SEARCH 1:* NOT DELETED",
        "11 UID SEARCH UNDELETED UID 1:* SINCE 1-Jan-2024",
        "12 LIST (SUBSCRIBED) \"\" \"*\" RETURN (CHILDREN SPECIAL-USE)",
        "13 LSUB \"\" \"*\"",
        "14 STATUS \"INBOX\" (MESSAGES UNSEEN RECENT UIDNEXT UIDVALIDITY)",
        "15 APPEND \"Sent\" (\\Seen) \" 5-Mar-2024 10:00:00 +0000\" {3}\r\nabc",
        "16 FETCH 1:* (FLAGS) (CHANGEDSINCE 1)",
        "17 UID SEARCH CHARSET UTF-8 SUBJECT {5}\r\ncaf\u{e9}",
        "18 FETCH 1 (BODY[HEADER.FIELDS (\"From\")]<0.100>)",
        "19 UID COPY 1:5 \"[Gmail]/Trash\"",
        "20 EXAMINE \"Lists/rust\"",
        "21 LIST \"\" \"%\"",
        "22 fetch 1 (envelope bodystructure rfc822.size internaldate flags uid modseq)",
        "23 UID SEARCH OR FROM alice (TO bob CC carol)",
        "24 SEARCH HEADER \"List-Id\" \"<rust.lists.example>\"",
        "25 UID SEARCH MODSEQ 1234",
        "26 select INBOX (condstore)",
        "27 ENABLE UTF8=ACCEPT",
        "28 UID MOVE 7 Archive",
        "29 UID EXPUNGE 7,9:10",
        "30 idle",
    ];
    for line in lines {
        let input = format!("{line}\r\n");
        if let Err(e) = parse_command(input.as_bytes()) {
            panic!("{line:?}: {e:?}");
        }
    }
}

#[test]
fn response_strings_round_trip_through_the_parser() {
    use crate::proto::imap::response::write_astring;
    let long = "x".repeat(2000);
    let values = [
        "plain",
        "",
        "NIL",
        "with space",
        "quote\"d",
        "back\\slash",
        "two\r\nlines",
        "caf\u{e9}",
        "a]b",
        "100%",
        long.as_str(),
    ];
    for value in values {
        let mut line = b"t LOGIN ".to_vec();
        write_astring(&mut line, value.as_bytes());
        line.extend_from_slice(b" pw\r\n");
        match parse_command(&line) {
            Ok(Command {
                kind: CommandKind::Login { username, .. },
                ..
            }) => assert_eq!(username, value),
            other => panic!("{value:?}: {other:?}"),
        }
    }
}
