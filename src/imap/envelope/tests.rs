use super::*;

fn render(list: &[Address]) -> String {
    let mut out = Vec::new();
    write_address_list(&mut out, list);
    String::from_utf8(out).unwrap()
}

#[test]
fn address_lists() {
    let cases: &[(&str, &str)] = &[
        ("Terry Gray <gray@cac.washington.edu>", "((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\"))"),
        ("imap@cac.washington.edu", "((NIL NIL \"imap\" \"cac.washington.edu\"))"),
        ("\"Doe, John\" <john@example.com>, jane@example.com", "((\"Doe, John\" NIL \"john\" \"example.com\")(NIL NIL \"jane\" \"example.com\"))"),
        ("<@a.example,@b.example:joe@c.example>", "((NIL \"@a.example,@b.example\" \"joe\" \"c.example\"))"),
        ("undisclosed-recipients:;", "((NIL NIL \"undisclosed-recipients\" NIL)(NIL NIL NIL NIL))"),
        ("Friends: a@x.example, B <b@y.example>;, c@z.example", "((NIL NIL \"Friends\" NIL)(NIL NIL \"a\" \"x.example\")(\"B\" NIL \"b\" \"y.example\")(NIL NIL NIL NIL)(NIL NIL \"c\" \"z.example\"))"),
        ("john.doe@example.com (John Doe)", "((NIL NIL \"john.doe\" \"example.com\"))"),
        ("=?utf-8?q?J=C3=B6rg?= <jorg@example.com>", "((\"=?utf-8?q?J=C3=B6rg?=\" NIL \"jorg\" \"example.com\"))"),
        ("root", "((NIL NIL \"root\" \"\"))"),
        ("", "NIL"),
        (",,,", "NIL"),
        ("<broken@example.com", "((NIL NIL \"broken\" \"example.com\"))"),
        ("\"unterminated <x@y>", "((NIL NIL \"unterminated <x@y>\" \"\"))"),
    ];
    for &(input, want) in cases {
        let got = render(&parse_address_list(input.as_bytes()));
        assert_eq!(got, want, "{input}");
    }
}

#[test]
fn rfc3501_example_envelope() {
    let header = b"Date: Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\r\n\
From: Terry Gray <gray@cac.washington.edu>\r\n\
Subject: IMAP4rev1 WG mtg summary and minutes\r\n\
To: imap@cac.washington.edu\r\n\
cc: minutes@CNRI.Reston.VA.US,\r\n John Klensin <KLENSIN@MIT.EDU>\r\n\
Message-Id: <B27397-0100000@cac.washington.edu>\r\n\r\n";
    let got = String::from_utf8(Envelope::from_header(header).to_bytes()).unwrap();
    assert_eq!(
        got,
        "(\"Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\" \"IMAP4rev1 WG mtg summary and minutes\" \
((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) ((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) \
((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) ((NIL NIL \"imap\" \"cac.washington.edu\")) \
((NIL NIL \"minutes\" \"CNRI.Reston.VA.US\")(\"John Klensin\" NIL \"KLENSIN\" \"MIT.EDU\")) NIL NIL \
\"<B27397-0100000@cac.washington.edu>\")"
    );
}

#[test]
fn empty_header_gives_all_nil() {
    let got = String::from_utf8(Envelope::from_header(b"").to_bytes()).unwrap();
    assert_eq!(got, "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
}

#[test]
fn sender_and_reply_to_are_kept_when_present() {
    let env = Envelope::from_header(b"From: a@x\r\nSender: s@x\r\nReply-To: r@x\r\n\r\n");
    assert_eq!(env.sender[0].mailbox.as_deref(), Some(&b"s"[..]));
    assert_eq!(env.reply_to[0].mailbox.as_deref(), Some(&b"r"[..]));
}

#[test]
fn eight_bit_subject_becomes_literal() {
    let got = Envelope::from_header("Subject: caf\u{e9}\r\n\r\n".as_bytes()).to_bytes();
    assert!(String::from_utf8_lossy(&got).starts_with("(NIL {5}\r\ncaf"));
}
