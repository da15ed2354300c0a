use super::*;
use crate::imap::bodystructure::body_structure;
use crate::imap::envelope::Envelope;
use crate::imap::section::{Section, SectionText};

const CORPUS: &[&str] = &["plain", "alternative", "attachment", "nested", "malformed"];

fn corpus_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/imap")
}

/// Renders the known-answer file for one corpus message.
fn render_known_answers(raw: &[u8]) -> String {
    let message = Message::parse(raw);
    let mut out = Vec::new();
    out.extend_from_slice(b"RFC822.SIZE ");
    out.extend_from_slice(crlf_size(raw).to_string().as_bytes());
    out.extend_from_slice(b"\nENVELOPE ");
    Envelope::from_header(message.slice(&message.root().header)).write(&mut out);
    out.extend_from_slice(b"\nBODY ");
    out.extend_from_slice(&body_structure(&message, false));
    out.extend_from_slice(b"\nBODYSTRUCTURE ");
    out.extend_from_slice(&body_structure(&message, true));
    out.push(b'\n');
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn corpus_known_answers() {
    let bless = std::env::var_os("IMAP_BLESS").is_some();
    for name in CORPUS {
        let raw = std::fs::read(corpus_dir().join(format!("{name}.eml"))).unwrap();
        let got = render_known_answers(&raw);
        let path = corpus_dir().join(format!("{name}.expected"));
        if bless {
            std::fs::write(&path, &got).unwrap();
        }
        let want = std::fs::read_to_string(&path).unwrap();
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn crlf_normalisation() {
    let cases: &[(&[u8], &[u8])] = &[
        (b"a\nb\n", b"a\r\nb\r\n"),
        (b"a\r\nb\r\n", b"a\r\nb\r\n"),
        (b"a\rb\n", b"a\rb\r\n"),
        (b"\n\n", b"\r\n\r\n"),
        (b"", b""),
        (b"mixed\r\nand\nbare", b"mixed\r\nand\r\nbare"),
    ];
    for &(raw, want) in cases {
        assert_eq!(&*to_crlf(raw), want);
        assert_eq!(crlf_size(raw), want.len() as u64);
    }
    assert!(matches!(to_crlf(b"x\r\n"), Cow::Borrowed(_)));
}

#[test]
fn header_fields_unfold_and_skip_junk() {
    let header = b"Subject: one\r\n two\r\nbad line\r\nX-Empty:\r\nFrom:a@b\r\n\r\n";
    let fields = header_fields(header);
    let names: Vec<&[u8]> = fields.iter().map(|f| f.name).collect();
    assert_eq!(names, vec![&b"Subject"[..], b"X-Empty", b"From"]);
    assert_eq!(fields[0].value(), b"one two");
    assert_eq!(fields[0].raw, b"Subject: one\r\n two\r\n");
    assert_eq!(fields[1].value(), b"");
    assert_eq!(header_value(header, "from").as_deref(), Some(&b"a@b"[..]));
    assert_eq!(header_value(header, "to"), None);
}

#[test]
fn content_type_parsing() {
    type Want<'a> = Option<(&'a str, &'a str, Vec<(&'a str, &'a str)>)>;
    let cases: &[(&str, Want)] = &[
        ("text/plain", Some(("TEXT", "PLAIN", vec![]))),
        (
            "Text/HTML; Charset=\"utf-8\"",
            Some(("TEXT", "HTML", vec![("CHARSET", "utf-8")])),
        ),
        (
            "multipart/mixed; boundary=\"a;b\" (comment); x=y",
            Some(("MULTIPART", "MIXED", vec![("BOUNDARY", "a;b"), ("X", "y")])),
        ),
        ("text/plain; charset", Some(("TEXT", "PLAIN", vec![]))),
        (
            "text/plain;; name=\"a \\\"q\\\" b\"",
            Some(("TEXT", "PLAIN", vec![("NAME", "a \"q\" b")])),
        ),
        ("text", None),
        ("", None),
        ("/plain", None),
    ];
    for (value, want) in cases {
        let got = parse_content_type(value.as_bytes());
        let want = want.as_ref().map(|(t, s, p)| ContentType {
            media_type: t.to_string(),
            subtype: s.to_string(),
            params: p
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        });
        assert_eq!(got, want, "{value}");
    }
}

#[test]
fn multipart_split_ranges_are_exact() {
    let body = b"preamble\r\n--b\r\none\r\n--b  \r\nHeader: x\r\n\r\ntwo\r\n--b--\r\nepilogue";
    let ranges = split_multipart(body, 0..body.len(), b"b");
    let parts: Vec<&[u8]> = ranges.iter().map(|r| &body[r.clone()]).collect();
    assert_eq!(parts, vec![&b"one"[..], b"Header: x\r\n\r\ntwo"]);
    // Look-alike boundaries are not delimiters.
    let body = b"--b\r\n--bx\r\n--b-\r\n";
    let ranges = split_multipart(body, 0..body.len(), b"b");
    assert_eq!(ranges.len(), 1);
    assert_eq!(&body[ranges[0].clone()], b"--bx\r\n--b-\r\n");
    // Empty part between adjacent delimiters.
    let body = b"--b\r\n--b\r\nx\r\n--b--";
    let ranges = split_multipart(body, 0..body.len(), b"b");
    assert_eq!(
        ranges.iter().map(|r| r.len()).collect::<Vec<_>>(),
        vec![0, 1]
    );
}

fn section(part: &[u32], text: Option<SectionText>) -> Section {
    Section {
        part: part.to_vec(),
        text,
    }
}

#[test]
fn sections_of_nested_message() {
    let raw = std::fs::read(corpus_dir().join("nested.eml")).unwrap();
    let message = Message::parse(&raw);
    let get = |s: Section| String::from_utf8_lossy(&s.extract(&message)).into_owned();
    let cases: Vec<(Section, &str)> = vec![
        (section(&[1], None), "See below."),
        (
            section(&[1], Some(SectionText::Mime)),
            "Content-Type: text/plain; charset=us-ascii\r\n\r\n",
        ),
        (
            section(&[2, 1], Some(SectionText::Mime)),
            "Content-Type: text/plain\r\n\r\n",
        ),
        (section(&[2, 1], None), "Lunch at noon?"),
        (section(&[2, 2], None), "<p>Lunch at noon?</p>"),
        (
            section(
                &[2],
                Some(SectionText::HeaderFields(vec![
                    "subject".into(),
                    "TO".into(),
                ])),
            ),
            "To: bob@example.net\r\nSubject: Lunch\r\n\r\n",
        ),
        (
            section(&[], Some(SectionText::HeaderFields(vec!["Subject".into()]))),
            "Subject: Fwd: Lunch\r\n\r\n",
        ),
        (
            section(&[], Some(SectionText::HeaderFields(vec!["X-None".into()]))),
            "\r\n",
        ),
        (section(&[2, 3], None), ""),
        (section(&[3], None), ""),
        (section(&[1, 1], None), ""),
        (section(&[1], Some(SectionText::Header)), ""),
    ];
    for (s, want) in cases {
        assert_eq!(get(s.clone()), want, "{s:?}");
    }
    let text = get(section(&[2], Some(SectionText::Text)));
    assert!(
        text.starts_with("--inner\r\n") && text.ends_with("--inner--\r\n"),
        "{text:?}"
    );
    let whole = get(section(&[2], None));
    assert!(
        whole.starts_with("From: \"Doe, Jane\"") && whole.ends_with("--inner--\r\n"),
        "{whole:?}"
    );
    let not = get(section(
        &[],
        Some(SectionText::HeaderFieldsNot(vec![
            "From".into(),
            "To".into(),
            "Date".into(),
            "Message-ID".into(),
            "MIME-Version".into(),
            "Content-Type".into(),
        ])),
    ));
    assert_eq!(not, "Subject: Fwd: Lunch\r\n\r\n");
    assert_eq!(get(section(&[], None)).len() as u64, crlf_size(&raw));
    let header = get(section(&[], Some(SectionText::Header)));
    assert!(header.ends_with("\r\n\r\n") && header.starts_with("From: Alice"));
}

#[test]
fn sections_of_single_part_message() {
    let raw = b"Subject: hi\n\nbody line\n";
    let message = Message::parse(raw);
    let get = |s: Section| s.extract(&message).into_owned();
    assert_eq!(get(section(&[1], None)), b"body line\r\n");
    assert_eq!(get(section(&[], Some(SectionText::Text))), b"body line\r\n");
    assert_eq!(
        get(section(&[1], Some(SectionText::Mime))),
        b"Subject: hi\r\n\r\n"
    );
    assert_eq!(get(section(&[2], None)), b"");
}

#[test]
fn header_only_and_empty_messages() {
    for raw in [
        &b""[..],
        b"Subject: x",
        b"\r\n",
        b"\n\nbody",
        b"no colon at all",
    ] {
        let message = Message::parse(raw);
        let root = message.root();
        assert_eq!(root.header.end, root.body.start);
        assert_eq!(root.body.end, message.bytes().len());
        let _ = body_structure(&message, true);
    }
    let message = Message::parse(b"\r\nbody");
    assert_eq!(message.slice(&message.root().body), b"body");
}

fn nested_multiparts(depth: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..depth {
        out.extend_from_slice(
            format!("Content-Type: multipart/mixed; boundary=\"b{i}\"\r\n\r\n--b{i}\r\n")
                .as_bytes(),
        );
    }
    out.extend_from_slice(b"Content-Type: text/plain\r\n\r\ndeep\r\n");
    out
}

#[test]
fn nesting_depth_is_bounded() {
    let raw = nested_multiparts(1000);
    let message = Message::parse(&raw);
    let mut depth = 0;
    let mut part = message.root();
    while let PartKind::Multipart(children) = &part.kind {
        depth += 1;
        part = &children[0];
    }
    assert!(depth <= MAX_DEPTH, "{depth}");
    let rendered = body_structure(&message, true);
    assert!(rendered.len() < 100_000);
    let raw = nested_multiparts(5);
    let message = Message::parse(&raw);
    let deep = Section {
        part: vec![1, 1, 1, 1, 1],
        text: None,
    };
    assert_eq!(&*deep.extract(&message), b"deep\r\n");
}

#[test]
fn random_messages_never_panic() {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let pieces: &[&[u8]] = &[
        b"Content-Type: multipart/mixed; boundary=x\r\n",
        b"Content-Type: message/rfc822\r\n",
        b"Content-Type: text/plain\n",
        b"--x\r\n",
        b"--x--\r\n",
        b"\r\n",
        b"\n",
        b"From: a <b@c>, (x) \"y\" <@r:z@w>;\r\n",
        b"Subject: \xff\xfe\r\n",
        b" folded\r\n",
        b"body text\r\n",
        b"=?utf-8?b?AAAA?=",
        b"Content-Disposition: attachment; filename=\"a\r\n",
    ];
    for _ in 0..3000 {
        let n = (next() % 30) as usize;
        let mut raw = Vec::new();
        for _ in 0..n {
            raw.extend_from_slice(pieces[(next() % pieces.len() as u64) as usize]);
        }
        let message = Message::parse(&raw);
        let _ = body_structure(&message, true);
        let _ = Envelope::from_header(message.slice(&message.root().header)).to_bytes();
        for path in [&[1u32][..], &[1, 1], &[2, 1, 1], &[]] {
            for text in [
                None,
                Some(SectionText::Text),
                Some(SectionText::Header),
                Some(SectionText::Mime),
            ] {
                if text == Some(SectionText::Mime) && path.is_empty() {
                    continue;
                }
                let _ = section(path, text).extract(&message);
            }
        }
    }
}

#[test]
fn digest_children_default_to_message_rfc822() {
    let raw = b"Content-Type: multipart/digest; boundary=d\r\n\r\n--d\r\n\r\nSubject: one\r\n\r\nfirst\r\n--d\r\nContent-Type: text/plain\r\n\r\nplain\r\n--d--\r\n";
    let message = Message::parse(raw);
    let got = String::from_utf8(body_structure(&message, false)).unwrap();
    assert_eq!(
        got,
        "((\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 21 (NIL \"one\" NIL NIL NIL NIL NIL NIL NIL NIL) (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 5 1) 3)(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 5 1) \"DIGEST\")"
    );
}

#[test]
fn encoded_message_rfc822_is_a_leaf() {
    let raw = b"Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\nU3ViamVjdDogeA==\r\n";
    let message = Message::parse(raw);
    assert_eq!(message.root().kind, PartKind::Leaf);
    let got = String::from_utf8(body_structure(&message, false)).unwrap();
    assert_eq!(got, "(\"MESSAGE\" \"RFC822\" NIL NIL NIL \"BASE64\" 18)");
}

#[test]
fn shallow_parse_agrees_on_top_level_sections() {
    for name in CORPUS {
        let raw = std::fs::read(corpus_dir().join(format!("{name}.eml"))).unwrap();
        let full = Message::parse(&raw);
        let shallow = Message::parse_shallow(&raw);
        for text in [
            None,
            Some(SectionText::Header),
            Some(SectionText::Text),
            Some(SectionText::HeaderFields(vec![
                "Subject".into(),
                "From".into(),
            ])),
            Some(SectionText::HeaderFieldsNot(vec!["Subject".into()])),
        ] {
            let s = section(&[], text);
            assert_eq!(s.extract(&full), s.extract(&shallow), "{name} {s:?}");
        }
    }
}
