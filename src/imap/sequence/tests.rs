use super::*;

#[test]
fn parse_and_display_round_trip() {
    for text in ["1", "1:*", "1:*,3,5:7", "*", "7:5", "4294967295"] {
        let set = SequenceSet::parse(text.as_bytes()).unwrap();
        assert_eq!(set.to_string(), text);
    }
}

#[test]
fn parse_rejects() {
    for text in [
        "",
        "0",
        "1,,2",
        "1:",
        ":2",
        "a",
        "01",
        "4294967296",
        "1:0",
        "1 2",
        "-1",
    ] {
        assert!(SequenceSet::parse(text.as_bytes()).is_err(), "{text}");
    }
}

#[test]
fn contains_table() {
    let cases: &[(&str, u32, u32, bool)] = &[
        ("1:*", 5, 10, true),
        ("1:*", 11, 10, false),
        ("3,5:7", 4, 10, false),
        ("3,5:7", 6, 10, true),
        ("7:5", 6, 10, true),
        ("*", 10, 10, true),
        ("*", 9, 10, false),
        ("*", 1, 0, false),
        ("5:*", 3, 3, true), // 5:* with largest 3 means 3:5
    ];
    for &(text, n, largest, want) in cases {
        let set = SequenceSet::parse(text.as_bytes()).unwrap();
        assert_eq!(set.contains(n, largest), want, "{text} {n} {largest}");
    }
}

#[test]
fn normalized_merges_and_clips() {
    let set = SequenceSet::parse(b"9:12,1:3,2:5,7,*").unwrap();
    assert_eq!(set.normalized(10), vec![(1, 5), (7, 7), (9, 10)]);
    assert_eq!(set.iter(4).collect::<Vec<_>>(), vec![1, 2, 3, 4]);
    assert!(set.uses_largest());
}

#[test]
fn huge_ranges_are_cheap() {
    let set = SequenceSet::parse(b"1:4294967295").unwrap();
    assert_eq!(set.normalized(3), vec![(1, 3)]);
    assert!(set.contains(4_000_000_000, 4_294_967_295));
}

#[test]
fn from_numbers_compresses_runs() {
    let set = SequenceSet::from_numbers(&[1, 2, 3, 5, 7, 8]).unwrap();
    assert_eq!(set.to_string(), "1:3,5,7:8");
    assert_eq!(SequenceSet::from_numbers(&[]), None);
    assert_eq!(SequenceSet::single(4).to_string(), "4");
}
