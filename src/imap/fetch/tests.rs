use super::*;
use crate::imap::command::CommandKind;
use crate::imap::parser::parse_command;

/// A message held in memory, as a session's view would present it.
pub(crate) struct TestView {
    pub uid: u32,
    pub flags: Vec<Flag>,
    pub date: DateTime,
    pub modseq: u64,
    pub raw: Vec<u8>,
    pub cached_envelope: Option<Vec<u8>>,
}

impl TestView {
    pub(crate) fn new(raw: &[u8]) -> Self {
        TestView {
            uid: 4827313,
            flags: vec![Flag::Seen],
            date: DateTime::parse_imap("17-Jul-1996 02:44:25 -0700").unwrap(),
            modseq: 12121231000,
            raw: raw.to_vec(),
            cached_envelope: None,
        }
    }
}

impl MessageView for TestView {
    fn uid(&self) -> u32 {
        self.uid
    }
    fn flags(&self) -> Cow<'_, [Flag]> {
        Cow::Borrowed(&self.flags)
    }
    fn internal_date(&self) -> DateTime {
        self.date
    }
    fn modseq(&self) -> u64 {
        self.modseq
    }
    fn raw(&self) -> std::io::Result<Cow<'_, [u8]>> {
        Ok(Cow::Borrowed(&self.raw))
    }
    fn cached_envelope(&self) -> Option<Cow<'_, [u8]>> {
        self.cached_envelope.as_deref().map(Cow::Borrowed)
    }
}

struct Unreadable;

impl MessageView for Unreadable {
    fn uid(&self) -> u32 {
        9
    }
    fn flags(&self) -> Cow<'_, [Flag]> {
        Cow::Owned(vec![Flag::Recent])
    }
    fn internal_date(&self) -> DateTime {
        DateTime::from_unix(0, 0)
    }
    fn modseq(&self) -> u64 {
        1
    }
    fn raw(&self) -> std::io::Result<Cow<'_, [u8]>> {
        Err(std::io::Error::new(std::io::ErrorKind::NotFound, "gone"))
    }
    fn cached_size(&self) -> Option<u64> {
        Some(42)
    }
}

const RAW: &[u8] = b"Subject: hi\nFrom: a@b.example\n\nline one\nline two\n";

fn attrs(text: &str) -> Vec<FetchAttribute> {
    match parse_command(format!("a FETCH 1 {text}\r\n").as_bytes())
        .unwrap()
        .kind
    {
        CommandKind::Fetch { attributes, .. } => attributes,
        other => panic!("{other:?}"),
    }
}

fn render(text: &str, view: &dyn MessageView) -> String {
    String::from_utf8(render_fetch(12, &attrs(text), view).unwrap()).unwrap()
}

#[test]
fn render_table() {
    let view = TestView::new(RAW);
    let cases: &[(&str, &str)] = &[
        ("FLAGS", "* 12 FETCH (FLAGS (\\Seen))\r\n"),
        ("(UID FLAGS)", "* 12 FETCH (UID 4827313 FLAGS (\\Seen))\r\n"),
        ("INTERNALDATE", "* 12 FETCH (INTERNALDATE \"17-Jul-1996 02:44:25 -0700\")\r\n"),
        ("RFC822.SIZE", "* 12 FETCH (RFC822.SIZE 54)\r\n"),
        ("MODSEQ", "* 12 FETCH (MODSEQ (12121231000))\r\n"),
        ("FAST", "* 12 FETCH (FLAGS (\\Seen) INTERNALDATE \"17-Jul-1996 02:44:25 -0700\" RFC822.SIZE 54)\r\n"),
        ("ENVELOPE", "* 12 FETCH (ENVELOPE (NIL \"hi\" ((NIL NIL \"a\" \"b.example\")) ((NIL NIL \"a\" \"b.example\")) ((NIL NIL \"a\" \"b.example\")) NIL NIL NIL NIL NIL))\r\n"),
        ("BODY", "* 12 FETCH (BODY (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 20 2))\r\n"),
        ("BODYSTRUCTURE", "* 12 FETCH (BODYSTRUCTURE (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 20 2 NIL NIL NIL NIL))\r\n"),
        ("RFC822", "* 12 FETCH (RFC822 {54}\r\nSubject: hi\r\nFrom: a@b.example\r\n\r\nline one\r\nline two\r\n)\r\n"),
        ("RFC822.HEADER", "* 12 FETCH (RFC822.HEADER {34}\r\nSubject: hi\r\nFrom: a@b.example\r\n\r\n)\r\n"),
        ("RFC822.TEXT", "* 12 FETCH (RFC822.TEXT {20}\r\nline one\r\nline two\r\n)\r\n"),
        ("BODY[TEXT]", "* 12 FETCH (BODY[TEXT] {20}\r\nline one\r\nline two\r\n)\r\n"),
        ("BODY.PEEK[HEADER.FIELDS (subject)]", "* 12 FETCH (BODY[HEADER.FIELDS (subject)] {15}\r\nSubject: hi\r\n\r\n)\r\n"),
        ("BODY[]<0.7>", "* 12 FETCH (BODY[]<0> {7}\r\nSubject)\r\n"),
        ("BODY[]<45.100>", "* 12 FETCH (BODY[]<45> {9}\r\nine two\r\n)\r\n"),
        ("BODY[]<1000.10>", "* 12 FETCH (BODY[]<1000> {0}\r\n)\r\n"),
        ("BODY[1]", "* 12 FETCH (BODY[1] {20}\r\nline one\r\nline two\r\n)\r\n"),
        ("BODY[2]", "* 12 FETCH (BODY[2] {0}\r\n)\r\n"),
        ("BODY[1.MIME]", "* 12 FETCH (BODY[1.MIME] {34}\r\nSubject: hi\r\nFrom: a@b.example\r\n\r\n)\r\n"),
    ];
    for &(request, want) in cases {
        assert_eq!(render(request, &view), want, "{request}");
    }
}

#[test]
fn seen_table() {
    let cases: &[(&str, bool)] = &[
        ("FLAGS", false),
        ("ALL", false),
        ("FULL", false),
        ("RFC822", true),
        ("RFC822.TEXT", true),
        ("RFC822.HEADER", false),
        ("BODY[]", true),
        ("BODY.PEEK[]", false),
        ("(BODY.PEEK[] BODY[1])", true),
        ("BODYSTRUCTURE", false),
    ];
    for &(request, want) in cases {
        assert_eq!(sets_seen(&attrs(request)), want, "{request}");
    }
}

#[test]
fn caches_avoid_reading_the_message() {
    let view = Unreadable;
    assert_eq!(
        render("(UID FLAGS RFC822.SIZE MODSEQ)", &view),
        "* 12 FETCH (UID 9 FLAGS (\\Recent) RFC822.SIZE 42 MODSEQ (1))\r\n"
    );
    assert!(render_fetch(1, &attrs("ENVELOPE"), &view).is_err());
    let mut cached = TestView::new(RAW);
    cached.cached_envelope = Some(b"(CACHED)".to_vec());
    assert_eq!(
        render("ENVELOPE", &cached),
        "* 12 FETCH (ENVELOPE (CACHED))\r\n"
    );
}

#[test]
fn header_only_sections() {
    assert!(is_header_only(&Section {
        part: vec![],
        text: Some(SectionText::Header)
    }));
    assert!(!is_header_only(&Section {
        part: vec![],
        text: None
    }));
}
