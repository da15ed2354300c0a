use super::*;

#[test]
fn utf7_known_answers() {
    // RFC 3501 §5.1.3 example and common names.
    let cases: &[(&str, &str)] = &[
        (
            "~peter/mail/\u{65e5}\u{672c}\u{8a9e}/\u{53f0}\u{5317}",
            "~peter/mail/&ZeVnLIqe-/&U,BTFw-",
        ),
        ("Entw\u{fc}rfe", "Entw&APw-rfe"),
        ("Gel\u{f6}schte Elemente", "Gel&APY-schte Elemente"),
        ("A&B", "A&-B"),
        ("&", "&-"),
        ("plain", "plain"),
        ("\u{1f600}", "&2D3eAA-"),
        ("", ""),
    ];
    for &(unicode, utf7) in cases {
        assert_eq!(utf7_encode(unicode), utf7, "{unicode}");
        assert_eq!(utf7_decode(utf7).as_deref(), Ok(unicode), "{utf7}");
    }
}

#[test]
fn utf7_rejects_invalid_and_non_canonical() {
    for bad in [
        "&",
        "&ZeVnLIqe",
        "&AGE-",
        "&Ze!-",
        "&U,BTF2XlZyyKng-x\u{e9}",
        "caf\u{e9}",
        "&2D0-",
        "&ZeVnLA-&ZeVnLA-",
    ] {
        assert!(utf7_decode(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn maildir_folder_mapping() {
    let cases: &[(&str, &str, &str)] = &[
        ("INBOX", "", "INBOX"),
        ("inbox", "", "INBOX"),
        ("Sent", ".Sent", "Sent"),
        ("Lists/rust", ".Lists.rust", "Lists/rust"),
        ("INBOX/sub", ".INBOX.sub", "INBOX/sub"),
        ("inBox/sub", ".INBOX.sub", "INBOX/sub"),
        ("v1.2", ".v1&AC4-2", "v1.2"),
        ("Entw&APw-rfe", ".Entw&APw-rfe", "Entw&APw-rfe"),
        ("A&-B", ".A&-B", "A&-B"),
        ("Sent Items", ".Sent Items", "Sent Items"),
        (".hidden", ".&AC4-hidden", ".hidden"),
    ];
    for &(imap, folder, back) in cases {
        assert_eq!(to_maildir_folder(imap).as_deref(), Ok(folder), "{imap}");
        assert_eq!(from_maildir_folder(folder).as_deref(), Ok(back), "{folder}");
    }
}

#[test]
fn bad_names_are_refused() {
    let long = "a".repeat(300);
    let deep = vec!["a"; 40].join("/");
    let cases: &[(&str, NameError)] = &[
        ("", NameError::Empty),
        ("..", NameError::DotSegment),
        ("a/../b", NameError::DotSegment),
        ("../etc", NameError::DotSegment),
        ("a/./b", NameError::DotSegment),
        ("a//b", NameError::EmptySegment),
        ("/a", NameError::EmptySegment),
        ("a/", NameError::EmptySegment),
        ("a\u{1}b", NameError::BadUtf7),
        ("a%", NameError::Wildcard),
        ("a*b", NameError::Wildcard),
        ("&Ze", NameError::BadUtf7),
        (&long, NameError::TooLong),
        (&deep, NameError::TooLong),
    ];
    for (name, want) in cases {
        assert_eq!(
            MailboxName::parse(name).err().as_ref(),
            Some(want),
            "{name}"
        );
    }
    assert_eq!(
        MailboxName::from_unicode("a\u{7}b").err(),
        Some(NameError::ControlChar)
    );
}

#[test]
fn bad_folders_are_refused() {
    for folder in [
        "Sent", ".", "..", ".a..b", ".a.", ".a/b", ".&Ze", ".a.&AC8-",
    ] {
        assert!(
            MailboxName::from_maildir_folder(folder).is_err(),
            "{folder}"
        );
    }
}

#[test]
fn hierarchy_helpers() {
    let name = MailboxName::parse("Lists/rust/users").unwrap();
    assert_eq!(name.parent().unwrap().to_imap(), "Lists/rust");
    assert!(name.is_below(&MailboxName::parse("Lists").unwrap()));
    assert!(!name.is_below(&name));
    assert!(MailboxName::parse("iNbOx").unwrap().is_inbox());
    assert!(!MailboxName::parse("INBOX/x").unwrap().is_inbox());
    assert_eq!(MailboxName::inbox().parent(), None);
}

#[test]
fn list_matching_table() {
    let cases: &[(&str, &str, bool)] = &[
        ("*", "INBOX", true),
        ("*", "Lists/rust", true),
        ("%", "Lists", true),
        ("%", "Lists/rust", false),
        ("Lists/%", "Lists/rust", true),
        ("Lists/%", "Lists/rust/users", false),
        ("Lists/*", "Lists/rust/users", true),
        ("Lists*", "Lists", true),
        ("L%s", "Lists", true),
        ("L%s", "La/s", false),
        ("L*s", "La/s", true),
        ("inbox", "INBOX", true),
        ("InBox/%", "INBOX/sub", true),
        ("sent", "Sent", false),
        ("", "INBOX", false),
        ("%/%", "a/b", true),
        ("%/%", "a", false),
        ("*/b", "a/x/b", true),
        ("%b", "a/b", false),
    ];
    for &(pattern, name, want) in cases {
        assert_eq!(list_matches(pattern, name), want, "{pattern} vs {name}");
    }
    assert_eq!(list_canonical("Lists/", "%"), "Lists/%");
}

#[test]
fn create_may_end_in_a_delimiter() {
    assert_eq!(
        MailboxName::parse_for_create("owatagusiam/")
            .unwrap()
            .to_imap(),
        "owatagusiam"
    );
    assert_eq!(
        MailboxName::parse_for_create("a/b").unwrap().to_imap(),
        "a/b"
    );
    assert_eq!(
        MailboxName::parse_for_create("a//"),
        Err(NameError::EmptySegment)
    );
    assert_eq!(MailboxName::parse_for_create("/"), Err(NameError::Empty));
}
