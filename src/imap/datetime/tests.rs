use super::*;

#[test]
fn imap_dates() {
    type Ymd = Option<(i32, u8, u8)>;
    let cases: &[(&str, Ymd)] = &[
        ("1-Feb-1994", Some((1994, 2, 1))),
        ("01-feb-1994", Some((1994, 2, 1))),
        ("29-Feb-2024", Some((2024, 2, 29))),
        ("29-Feb-2023", None),
        ("31-Apr-2023", None),
        ("0-Jan-2020", None),
        ("1-Foo-2020", None),
        ("1-Jan-20", None),
        ("123-Jan-2020", None),
        ("", None),
    ];
    for &(text, want) in cases {
        let got = Date::parse_imap(text).map(|d| (d.year, d.month, d.day));
        assert_eq!(got, want, "{text}");
    }
}

#[test]
fn imap_date_times() {
    let dt = DateTime::parse_imap("17-Jul-1996 02:44:25 -0700").unwrap();
    assert_eq!(dt.to_string(), "17-Jul-1996 02:44:25 -0700");
    assert_eq!(dt.unix(), 837_596_665);
    let padded = DateTime::parse_imap(" 7-Feb-1994 21:52:25 +0130").unwrap();
    assert_eq!(padded.offset_minutes, 90);
    assert_eq!(padded.to_string(), "07-Feb-1994 21:52:25 +0130");
    for bad in [
        "17-Jul-1996 02:44 -0700",
        "17-Jul-1996 25:00:00 +0000",
        "17-Jul-1996 02:44:25 0700",
        "17-Jul-1996 02:44:25 +0700 x",
        "17-Jul-1996 02:44:25 +1\u{20ac}",
    ] {
        assert_eq!(DateTime::parse_imap(bad), None, "{bad}");
    }
}

#[test]
fn epoch_round_trip() {
    for secs in [0i64, 837_596_665, 951_782_400, -86_400, 4_102_444_800] {
        assert_eq!(DateTime::from_unix(secs, 0).unix(), secs);
        assert_eq!(DateTime::from_unix(secs, -420).unix(), secs);
    }
    assert_eq!(
        DateTime::from_unix(0, 0).to_string(),
        "01-Jan-1970 00:00:00 +0000"
    );
}

#[test]
fn rfc5322_dates() {
    let cases: &[(&str, Option<&str>)] = &[
        (
            "Mon, 7 Feb 1994 21:52:25 -0800 (PST)",
            Some("07-Feb-1994 21:52:25 -0800"),
        ),
        ("7 Feb 1994 21:52 -0800", Some("07-Feb-1994 21:52:00 -0800")),
        (
            "Fri, 21 Nov 97 09:55:06 GMT",
            Some("21-Nov-1997 09:55:06 +0000"),
        ),
        (
            "Fri, 21 Nov 03 09:55:06 EST",
            Some("21-Nov-2003 09:55:06 -0500"),
        ),
        ("garbage", None),
        ("", None),
        // A zone with a multi-byte character where the digits belong (a stranger's Date:
        // header): an unknown zone, read as +0000 like any other.
        (
            "Mon, 7 Feb 1994 21:52:25 +1\u{20ac}",
            Some("07-Feb-1994 21:52:25 +0000"),
        ),
        (
            "Mon, 7 Feb 1994 21:52:25 -\u{e9}00",
            Some("07-Feb-1994 21:52:25 +0000"),
        ),
    ];
    for &(text, want) in cases {
        let got = DateTime::parse_rfc5322(text).map(|d| d.to_string());
        assert_eq!(got.as_deref(), want, "{text}");
    }
}
