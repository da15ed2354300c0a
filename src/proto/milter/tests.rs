use super::*;

#[test]
fn packets_and_negotiation_are_framed() {
    assert_eq!(packet(b'c', b""), [0, 0, 0, 1, b'c']);
    let n = negotiate();
    assert_eq!(&n[..5], [0, 0, 0, 13, b'O']);
    assert_eq!(&n[5..9], 6u32.to_be_bytes());
    let c = connect("mx.test", Some(("192.0.2.1".parse().unwrap(), 25)));
    assert_eq!(&c[5..], b"mx.test\x004\x00\x19192.0.2.1\x00");
    assert_eq!(strings(&["a\0b", "c"]), b"ab\0c\0");
}

#[test]
fn responses_decode() {
    let mut o = Vec::new();
    o.extend(6u32.to_be_bytes());
    o.extend(0x3fu32.to_be_bytes());
    o.extend(0x10u32.to_be_bytes());
    assert_eq!(
        decode(b'O', &o),
        Ok(Response::Negotiate(Negotiated {
            actions: 0x3f,
            protocol: 0x10
        }))
    );
    assert!(decode(b'O', &o[..6]).is_err());
    let table: &[(u8, &[u8], Response)] = &[
        (b'c', b"", Response::Continue),
        (b'a', b"", Response::Accept),
        (b'r', b"", Response::Reject),
        (b't', b"", Response::TempFail),
        (b'd', b"", Response::Discard),
        (
            b'y',
            b"554 5.7.1 Gtube pattern\0",
            Response::ReplyCode(Reply::new(554, "5.7.1", "Gtube pattern")),
        ),
        (
            b'y',
            b"451 try later\0",
            Response::ReplyCode(Reply::new(451, "4.7.1", "try later")),
        ),
        (
            b'h',
            b"X-Spam\0Yes\0",
            Response::Modify(Modification::AddHeader {
                name: "X-Spam".into(),
                value: "Yes".into(),
            }),
        ),
        (
            b'm',
            b"\0\0\0\x01Subject\0\0",
            Response::Modify(Modification::ChangeHeader {
                index: 1,
                name: "Subject".into(),
                value: String::new(),
            }),
        ),
        (
            b'+',
            b"<new@example.test>\0",
            Response::Modify(Modification::AddRecipient("new@example.test".into())),
        ),
        (
            b'e',
            b"<bounce@example.test>\0",
            Response::Modify(Modification::ChangeSender("bounce@example.test".into())),
        ),
        (b'Z', b"", Response::Unknown(b'Z')),
    ];
    for (cmd, data, want) in table {
        assert_eq!(
            decode(*cmd, data).as_ref(),
            Ok(want),
            "{}",
            char::from(*cmd)
        );
    }
    // A reply code that is not a refusal is malformed.
    assert!(decode(b'y', b"250 ok\0").is_err());
    assert_eq!(frame_len(&[0, 0, 0]), Ok(None));
    assert!(frame_len(&[0, 0x20, 0, 0, b'c']).is_err());
}

#[test]
fn modifications_change_the_letter() {
    let msg = b"Subject: hi\r\nX-Old: 1\r\nReceived: a\r\n\tfolded\r\nX-Old: 2\r\n\r\nbody\r\n";
    let mut l = Letter {
        sender: "a@x.test".into(),
        recipients: vec!["b@y.test".into()],
        message: parse(msg),
        quarantine: None,
    };
    assert_eq!(parse(&l.message.to_bytes()), l.message, "round trip");
    for m in [
        Modification::AddHeader {
            name: "X-Spam".into(),
            value: "Yes\r\n\tscore=9\r\nEvil: injected".into(),
        },
        Modification::InsertHeader {
            index: 0,
            name: "X-First".into(),
            value: "1".into(),
        },
        Modification::ChangeHeader {
            index: 2,
            name: "x-old".into(),
            value: String::new(),
        },
        Modification::ChangeHeader {
            index: 1,
            name: "Subject".into(),
            value: "[SPAM] hi".into(),
        },
        Modification::ReplaceBody(b"new body\r\n".to_vec()),
        Modification::AddRecipient("c@y.test".into()),
        Modification::AddRecipient("B@y.test".into()),
        Modification::DeleteRecipient("b@y.test".into()),
        Modification::ChangeSender("bounce@x.test".into()),
        Modification::Quarantine("spam".into()),
    ] {
        apply(&mut l, &m);
    }
    let out = String::from_utf8(l.message.to_bytes()).unwrap();
    assert_eq!(
        out,
        "X-First: 1\r\nSubject: [SPAM] hi\r\nX-Old: 1\r\nReceived: a\r\n\tfolded\r\n\
         X-Spam: Yes\r\n\tscore=9\r\n Evil: injected\r\n\r\nnew body\r\n"
    );
    assert_eq!(l.recipients, ["c@y.test"]);
    assert_eq!(l.sender, "bounce@x.test");
    assert_eq!(l.quarantine.as_deref(), Some("spam"));
}
