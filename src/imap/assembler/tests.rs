use super::*;
use crate::imap::command::CommandKind;

fn small() -> CommandAssembler {
    CommandAssembler::new(Limits {
        max_line: 100,
        max_literal: 1000,
        max_literals: 3,
    })
}

fn command(event: Event) -> Command {
    match event {
        Event::Command(c) => c,
        other => panic!("expected a command, got {other:?}"),
    }
}

fn error(event: Event) -> ParseError {
    match event {
        Event::Error(e) => e,
        other => panic!("expected an error, got {other:?}"),
    }
}

#[test]
fn whole_and_split_lines() {
    let mut a = small();
    assert_eq!(a.poll(), Event::Incomplete);
    a.push(b"a1 NO");
    assert_eq!(a.poll(), Event::Incomplete);
    a.push(b"OP\r\na2 CAPABILITY\r\na3 LOG");
    assert_eq!(command(a.poll()).tag, "a1");
    assert_eq!(command(a.poll()).kind, CommandKind::Capability);
    assert_eq!(a.poll(), Event::Incomplete);
    a.push(b"OUT\n");
    assert_eq!(command(a.poll()).kind, CommandKind::Logout);
    assert!(a.is_idle());
}

#[test]
fn byte_at_a_time_feeding() {
    let mut a = small();
    let input = b"x LOGIN {3}\r\nbob {6+}\r\nsecret\r\ny NOOP\r\n";
    let mut seen = Vec::new();
    for &b in input.iter() {
        a.push(&[b]);
        loop {
            match a.poll() {
                Event::Incomplete => break,
                Event::NeedLiteral { non_sync, .. } => {
                    seen.push(non_sync);
                    a.accept_literal();
                }
                Event::Command(c) => seen.push(matches!(
                    c.kind,
                    CommandKind::Login { .. } | CommandKind::Noop
                )),
                Event::Error(e) => panic!("{e:?}"),
            }
        }
    }
    assert_eq!(seen, vec![false, true, true, true]);
}

#[test]
fn synchronising_literal_flow() {
    let mut a = small();
    a.push(b"A003 APPEND saved-messages (\\Seen) {5}\r\n");
    assert_eq!(
        a.poll(),
        Event::NeedLiteral {
            tag: Some("A003".into()),
            command: Some("APPEND".into()),
            size: 5,
            non_sync: false
        }
    );
    // Asking again without a decision repeats the question.
    assert!(matches!(a.poll(), Event::NeedLiteral { .. }));
    a.accept_literal();
    assert_eq!(a.poll(), Event::Incomplete);
    a.push(b"Hel");
    assert_eq!(a.poll(), Event::Incomplete);
    a.push(b"lo\r\n");
    match command(a.poll()).kind {
        CommandKind::Append { message, flags, .. } => {
            assert_eq!(message, b"Hello");
            assert_eq!(flags.len(), 1);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn rejected_sync_literal_keeps_stream_in_sync() {
    let mut a = small();
    a.push(b"t1 LOGIN {500}\r\n");
    assert!(matches!(a.poll(), Event::NeedLiteral { size: 500, .. }));
    assert_eq!(a.reject_literal(), Some("t1".into()));
    // The client saw our NO and never sent the literal.
    a.push(b"t2 NOOP\r\n");
    assert_eq!(command(a.poll()).tag, "t2");
}

#[test]
fn rejected_non_sync_literal_is_skipped() {
    let mut a = small();
    a.push(b"t1 APPEND INBOX {10+}\r\n0123");
    assert!(matches!(
        a.poll(),
        Event::NeedLiteral {
            size: 10,
            non_sync: true,
            ..
        }
    ));
    a.reject_literal();
    assert_eq!(a.poll(), Event::Incomplete);
    // Rest of the literal, then the rest of the command line with another
    // non-sync literal, then the next command.
    a.push(b"456789 {3+}\r\nabc tail\r\nt2 NOOP\r\n");
    assert_eq!(command(a.poll()).tag, "t2");
}

#[test]
fn oversize_literals_are_refused_with_the_tag() {
    let mut a = small();
    a.push(b"big APPEND INBOX {1073741824}\r\nt2 NOOP\r\n");
    let e = error(a.poll());
    assert_eq!(e.tag.as_deref(), Some("big"));
    assert!(matches!(
        e.kind,
        ParseErrorKind::LiteralTooLarge {
            size: 1073741824,
            ..
        }
    ));
    assert_eq!(command(a.poll()).tag, "t2");

    // Non-sync: the announced bytes are skipped even though they arrive anyway.
    a.push(b"big2 APPEND INBOX {2000+}\r\n");
    assert!(matches!(
        error(a.poll()).kind,
        ParseErrorKind::LiteralTooLarge { .. }
    ));
    a.push(&[b'x'; 2000]);
    a.push(b"\r\nt3 NOOP\r\n");
    assert_eq!(command(a.poll()).tag, "t3");

    // Absurd sizes do not overflow.
    a.push(b"huge LOGIN {99999999999999999999999}\r\nt4 NOOP\r\n");
    assert!(matches!(
        error(a.poll()).kind,
        ParseErrorKind::LiteralTooLarge { .. }
    ));
    assert_eq!(command(a.poll()).tag, "t4");
}

#[test]
fn too_many_literals() {
    let mut a = small();
    a.push(b"m ID (\"a\" {1}\r\n");
    for _ in 0..3 {
        match a.poll() {
            Event::NeedLiteral { .. } => {
                a.accept_literal();
                a.push(b"x {1}\r\n");
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(error(a.poll()).kind, ParseErrorKind::TooMany);
}

#[test]
fn long_lines_are_discarded_then_reported() {
    let mut a = small();
    a.push(b"long1 SEARCH ");
    a.push(&[b'X'; 150]);
    // The error waits for the end of the line, so the reply is not premature.
    assert_eq!(a.poll(), Event::Incomplete);
    a.push(&[b'Y'; 500]);
    assert_eq!(a.poll(), Event::Incomplete);
    assert!(a.buffered() < 200, "memory stays bounded: {}", a.buffered());
    a.push(b"\r\nok NOOP\r\n");
    let e = error(a.poll());
    assert_eq!(
        (e.tag.as_deref(), e.kind),
        (Some("long1"), ParseErrorKind::LineTooLong)
    );
    assert_eq!(command(a.poll()).tag, "ok");

    // A long line that arrives complete in one push.
    let mut line = b"long2 LOGIN ".to_vec();
    line.extend_from_slice(&[b'a'; 200]);
    line.extend_from_slice(b" b\r\nok2 NOOP\r\n");
    a.push(&line);
    assert_eq!(error(a.poll()).kind, ParseErrorKind::LineTooLong);
    assert_eq!(command(a.poll()).tag, "ok2");
}

#[test]
fn parse_errors_do_not_desynchronise() {
    let mut a = small();
    a.push(b"bad1 FETCH (\r\n)))\r\nbad2 LOGIN {3}\r\n");
    assert_eq!(error(a.poll()).tag.as_deref(), Some("bad1"));
    assert_eq!(error(a.poll()).tag, None);
    assert!(matches!(a.poll(), Event::NeedLiteral { .. }));
    a.accept_literal();
    a.push(b"abc\r\nok NOOP\r\n");
    // LOGIN with one argument: an error, but the literal was consumed in full.
    assert_eq!(error(a.poll()).tag.as_deref(), Some("bad2"));
    assert_eq!(command(a.poll()).tag, "ok");
}

#[test]
fn plain_lines_for_authenticate_and_idle() {
    let mut a = small();
    a.push(b"dGVzdA==\r\nDONE\nrest");
    assert_eq!(a.next_line(), LineEvent::Line(b"dGVzdA==".to_vec()));
    assert_eq!(a.next_line(), LineEvent::Line(b"DONE".to_vec()));
    assert_eq!(a.next_line(), LineEvent::Incomplete);
    a.push(&[b'z'; 200]);
    assert_eq!(a.next_line(), LineEvent::TooLong);
    a.push(b"\r\nnext NOOP\r\n");
    assert_eq!(command(a.poll()).tag, "next");
}

#[test]
fn random_streams_never_panic_and_stay_bounded() {
    let mut state = 0xdead_beef_cafe_f00du64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let pieces: &[&[u8]] = &[
        b"a1 ",
        b"NOOP",
        b"{5}",
        b"{3+}",
        b"{999999}",
        b"\r\n",
        b"\n",
        b"\"",
        b"(",
        b")",
        b"xyz",
        b"LOGIN ",
        b"FETCH 1 BODY[",
        b" ",
    ];
    let mut a = small();
    for _ in 0..20_000 {
        a.push(pieces[(next() % pieces.len() as u64) as usize]);
        for _ in 0..4 {
            match a.poll() {
                Event::NeedLiteral { .. } => {
                    if next() % 2 == 0 {
                        a.accept_literal()
                    } else {
                        a.reject_literal();
                    }
                }
                Event::Incomplete => break,
                _ => {}
            }
        }
        assert!(a.buffered() < 5_000, "{}", a.buffered());
    }
}

/// Found by the `imap_assembler` fuzz target: a command line of 60,000 bytes pushed one byte at a
/// time took seconds, as each push searched the whole line again for its end (a client trickling
/// bytes got quadratic CPU from the server). Each byte is now searched once.
#[test]
fn a_line_trickling_in_is_searched_once() {
    let mut a = CommandAssembler::new(Limits::default());
    let started = std::time::Instant::now();
    let line = [b"a SEARCH TEXT ".as_slice(), &[b'x'; 60_000], b"\r\n"].concat();
    let mut events = Vec::new();
    for b in &line {
        a.push(std::slice::from_ref(b));
        match a.poll() {
            Event::Incomplete => {}
            other => events.push(other),
        }
    }
    assert!(
        matches!(events.as_slice(), [Event::Command(c)] if c.tag == "a"),
        "{events:?}"
    );
    // Searching once per byte takes milliseconds; once per push, tens of seconds unoptimised.
    let took = started.elapsed();
    assert!(took < std::time::Duration::from_secs(3), "took {took:?}");
}
