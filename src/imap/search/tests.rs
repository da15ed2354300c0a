use super::*;
use crate::imap::command::CommandKind;
use crate::imap::fetch::tests::TestView;
use crate::imap::parser::parse_command;

fn key(text: &str) -> SearchKey {
    match parse_command(format!("a SEARCH {text}\r\n").as_bytes())
        .unwrap()
        .kind
    {
        CommandKind::Search { criteria, .. } => criteria,
        other => panic!("{other:?}"),
    }
}

const RAW: &str = "Date: Mon, 7 Feb 1994 21:52:25 -0800\n\
From: Fred Foobar <foobar@Blurdybloop.example>\n\
To: =?utf-8?q?J=C3=B6rg?= <jorg@example.com>\n\
Cc: carol@example.net\n\
Subject: =?iso-8859-1?q?Caf=E9?= meeting\n\
X-Custom: Hello\n\
Content-Type: multipart/alternative; boundary=b\n\
\n\
--b\n\
Content-Type: text/plain; charset=utf-8\n\
Content-Transfer-Encoding: quoted-printable\n\
\n\
Meet at the caf=C3=A9 at 3:30.\n\
--b\n\
Content-Type: text/html\n\
\n\
<b>BOLD words</b>\n\
--b--\n";

fn view() -> TestView {
    let mut v = TestView::new(RAW.as_bytes());
    v.uid = 100;
    v.flags = vec![
        Flag::Seen,
        Flag::Flagged,
        Flag::Recent,
        Flag::Keyword("$Work".into()),
    ];
    v.date = DateTime::parse_imap("08-Feb-1994 06:00:00 +0000").unwrap();
    v.modseq = 50;
    v
}

#[test]
fn evaluation_table() {
    let v = view();
    let ctx = SearchContext {
        seq: 3,
        max_seq: 10,
        max_uid: 200,
    };
    let size = crlf_size(RAW.as_bytes());
    let cases: Vec<(String, bool)> = vec![
        ("ALL".into(), true),
        ("SEEN".into(), true),
        ("UNSEEN".into(), false),
        ("FLAGGED ANSWERED".into(), false),
        ("UNANSWERED UNDELETED UNDRAFT".into(), true),
        ("DELETED".into(), false),
        ("DRAFT".into(), false),
        ("UNFLAGGED".into(), false),
        ("RECENT".into(), true),
        ("NEW".into(), false),
        ("OLD".into(), false),
        ("KEYWORD $work".into(), true),
        ("KEYWORD $Home".into(), false),
        ("UNKEYWORD $Home".into(), true),
        ("FROM foobar".into(), true),
        ("FROM \"fred FOOBAR\"".into(), true),
        ("FROM nobody".into(), false),
        ("TO \"jörg\"".into(), true),
        ("TO jorg@example".into(), true),
        ("CC carol".into(), true),
        ("BCC carol".into(), false),
        ("SUBJECT \"café\"".into(), true),
        ("SUBJECT \"CAFÉ MEET\"".into(), true),
        ("SUBJECT lunch".into(), false),
        ("HEADER X-Custom hello".into(), true),
        ("HEADER X-Custom \"\"".into(), true),
        ("HEADER X-Missing \"\"".into(), false),
        ("BODY \"the café\"".into(), true),
        ("BODY \"bold WORDS\"".into(), true),
        ("BODY Foobar".into(), false),
        ("TEXT foobar".into(), true),
        ("TEXT \"at 3:30\"".into(), true),
        ("TEXT absent".into(), false),
        ("ON 8-Feb-1994".into(), true),
        ("SINCE 8-Feb-1994".into(), true),
        ("BEFORE 8-Feb-1994".into(), false),
        ("BEFORE 9-Feb-1994".into(), true),
        ("SENTON 7-Feb-1994".into(), true),
        ("SENTBEFORE 7-Feb-1994".into(), false),
        ("SENTSINCE 7-Feb-1994".into(), true),
        ("SENTSINCE 8-Feb-1994".into(), false),
        (format!("LARGER {}", size - 1), true),
        (format!("LARGER {size}"), false),
        (format!("SMALLER {}", size + 1), true),
        (format!("SMALLER {size}"), false),
        ("UID 100".into(), true),
        ("UID 1:99,101:*".into(), false),
        ("UID *".into(), false),
        ("3".into(), true),
        ("1:2,4:*".into(), false),
        ("*".into(), false),
        ("NOT SEEN".into(), false),
        ("OR UNSEEN FLAGGED".into(), true),
        ("OR UNSEEN DELETED".into(), false),
        ("(SEEN FLAGGED) NOT DELETED".into(), true),
        ("MODSEQ 50".into(), true),
        ("MODSEQ 51".into(), false),
    ];
    for (text, want) in cases {
        assert_eq!(matches(&key(&text), ctx, &v).unwrap(), want, "{text}");
    }
}

#[test]
fn sent_date_falls_back_to_internal_date() {
    let mut v = TestView::new(b"Subject: no date\r\n\r\nx");
    v.date = DateTime::parse_imap("01-Mar-2020 10:00:00 +0000").unwrap();
    let ctx = SearchContext {
        seq: 1,
        max_seq: 1,
        max_uid: v.uid,
    };
    assert!(matches(&key("SENTON 1-Mar-2020"), ctx, &v).unwrap());
    assert!(matches(&key("*"), ctx, &v).unwrap());
    assert!(matches(&key("UID *"), ctx, &v).unwrap());
}

#[test]
fn flag_only_programs_do_not_read_content() {
    assert!(!key("SEEN UID 1:* OR NEW LARGER 5").needs_content());
    assert!(key("NOT (SEEN SUBJECT x)").needs_content());
    assert!(key("OR SEEN MODSEQ 4").uses_modseq());
    assert!(!key("SEEN").uses_modseq());
}

#[test]
fn random_messages_never_panic_in_search() {
    let mut state = 0x1234_5678_9abc_def1u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let pieces: &[&[u8]] = &[
        b"Content-Type: multipart/mixed; boundary=x\r\n",
        b"Content-Type: text/plain; charset=\"utf-7\"\r\n",
        b"Content-Type: text/plain; charset=bogus\r\n",
        b"Content-Transfer-Encoding: base64\r\n",
        b"Content-Transfer-Encoding: quoted-printable\r\n",
        b"--x\r\n",
        b"\r\n",
        b"Subject: =?x?q?=FF?= =?utf-8?b?====?=\r\n",
        b"Date: 99 Foo 12345 99:99\r\n",
        b"=\r\n",
        b"\xff\xfe\x00",
        b"QUJD",
    ];
    let program = key("OR TEXT abc (BODY x SUBJECT y SENTSINCE 1-Jan-2000 HEADER Date 9)");
    for _ in 0..2000 {
        let n = (next() % 20) as usize;
        let mut raw = Vec::new();
        for _ in 0..n {
            raw.extend_from_slice(pieces[(next() % pieces.len() as u64) as usize]);
        }
        let v = TestView::new(&raw);
        let ctx = SearchContext {
            seq: 1,
            max_seq: 1,
            max_uid: 1,
        };
        let _ = matches(&program, ctx, &v).unwrap();
    }
}
