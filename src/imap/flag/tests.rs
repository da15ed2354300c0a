use super::*;

#[test]
fn parse_table() {
    let cases: &[(&str, Option<Flag>)] = &[
        ("\\Seen", Some(Flag::Seen)),
        ("\\SEEN", Some(Flag::Seen)),
        ("\\answered", Some(Flag::Answered)),
        ("\\Flagged", Some(Flag::Flagged)),
        ("\\Deleted", Some(Flag::Deleted)),
        ("\\Draft", Some(Flag::Draft)),
        ("\\Recent", Some(Flag::Recent)),
        ("\\Foo", Some(Flag::Extension("Foo".into()))),
        ("$Forwarded", Some(Flag::Keyword("$Forwarded".into()))),
        ("\\", None),
        ("", None),
        ("a b", None),
        ("a]", None),
        ("\\*", None),
    ];
    for (text, want) in cases {
        assert_eq!(&Flag::parse(text), want, "{text}");
    }
}

#[test]
fn display_round_trips() {
    for text in [
        "\\Seen",
        "\\Answered",
        "\\Flagged",
        "\\Deleted",
        "\\Draft",
        "\\Recent",
        "\\X",
        "$Junk",
    ] {
        assert_eq!(Flag::parse(text).unwrap().to_string(), text);
    }
}

#[test]
fn keywords_match_case_insensitively() {
    let a = Flag::Keyword("$Junk".into());
    assert!(a.matches(&Flag::Keyword("$JUNK".into())));
    assert!(!a.matches(&Flag::Keyword("$Junk2".into())));
    assert!(!a.matches(&Flag::Seen));
}
