//! SELECT / EXAMINE grammar: the mailbox and the RFC 7162 parameters `(CONDSTORE)` and
//! `(QRESYNC (uidvalidity modseq [known-uids] [(known-seqs known-uids)]))`.

use super::super::command::{CommandKind, QresyncParams};
use super::lexer::{Lex, Lexer};
use super::ParseErrorKind;

enum Param {
    Condstore,
    Qresync(QresyncParams),
}

pub(super) fn parse_select(lx: &mut Lexer<'_>, select: bool) -> Lex<CommandKind> {
    lx.sp()?;
    let mailbox = lx.astring_utf8()?;
    let mut condstore = false;
    let mut qresync = None;
    if lx.eat(b' ') {
        for param in lx.paren_list(|lx| match lx.keyword()?.as_str() {
            "CONDSTORE" => Ok(Param::Condstore),
            "QRESYNC" => {
                lx.sp()?;
                qresync_params(lx).map(Param::Qresync)
            }
            _ => Err(ParseErrorKind::Unknown("select parameter")),
        })? {
            match param {
                Param::Condstore => condstore = true,
                Param::Qresync(q) => qresync = Some(q),
            }
        }
    }
    Ok(if select {
        CommandKind::Select {
            mailbox,
            condstore,
            qresync,
        }
    } else {
        CommandKind::Examine {
            mailbox,
            condstore,
            qresync,
        }
    })
}

fn qresync_params(lx: &mut Lexer<'_>) -> Lex<QresyncParams> {
    lx.expect(b'(', "'('")?;
    let uidvalidity = lx.number()?;
    if uidvalidity == 0 {
        return Err(ParseErrorKind::BadNumber);
    }
    lx.sp()?;
    let modseq = lx.number64()?;
    let mut known_uids = None;
    let mut seq_match = None;
    if lx.eat(b' ') {
        if lx.peek() != Some(b'(') {
            known_uids = Some(lx.sequence_set()?);
            if lx.eat(b' ') {
                seq_match = Some(seq_match_data(lx)?);
            }
        } else {
            seq_match = Some(seq_match_data(lx)?);
        }
    }
    lx.close_paren()?;
    Ok(QresyncParams {
        uidvalidity,
        modseq,
        known_uids,
        seq_match,
    })
}

fn seq_match_data(
    lx: &mut Lexer<'_>,
) -> Lex<(
    crate::proto::imap::sequence::SequenceSet,
    crate::proto::imap::sequence::SequenceSet,
)> {
    lx.expect(b'(', "'('")?;
    let seqs = lx.sequence_set()?;
    lx.sp()?;
    let uids = lx.sequence_set()?;
    lx.close_paren()?;
    Ok((seqs, uids))
}

#[cfg(test)]
mod tests {
    use super::super::parse_command;
    use super::*;
    use crate::proto::imap::sequence::SequenceSet;

    fn kind(text: &str) -> Result<CommandKind, ParseErrorKind> {
        parse_command(format!("a {text}\r\n").as_bytes())
            .map(|c| c.kind)
            .map_err(|e| e.kind)
    }

    fn set(text: &str) -> SequenceSet {
        SequenceSet::parse(text.as_bytes()).unwrap()
    }

    #[test]
    fn qresync_parameters() {
        let q = |k: CommandKind| match k {
            CommandKind::Select { qresync, .. } | CommandKind::Examine { qresync, .. } => qresync,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            q(kind("SELECT INBOX (QRESYNC (67890007 90060115194045000))").unwrap()),
            Some(QresyncParams {
                uidvalidity: 67890007,
                modseq: 90060115194045000,
                known_uids: None,
                seq_match: None,
            })
        );
        assert_eq!(
            q(kind("EXAMINE INBOX (QRESYNC (1 5 41,43:211 (1:3 41,43,45)) CONDSTORE)").unwrap()),
            Some(QresyncParams {
                uidvalidity: 1,
                modseq: 5,
                known_uids: Some(set("41,43:211")),
                seq_match: Some((set("1:3"), set("41,43,45"))),
            })
        );
        assert_eq!(
            q(kind("SELECT INBOX (QRESYNC (1 5 (1:3 41,43,45)))").unwrap())
                .and_then(|p| p.seq_match),
            Some((set("1:3"), set("41,43,45")))
        );
        for bad in [
            "SELECT INBOX (QRESYNC (0 5))",
            "SELECT INBOX (QRESYNC (1))",
            "SELECT INBOX (QRESYNC 1 5)",
            "SELECT INBOX (QRESYNC (1 5 1:x))",
            "SELECT INBOX (QRESYNC (1 5)",
        ] {
            assert!(kind(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn fetch_vanished_modifier() {
        match kind("UID FETCH 1:* (FLAGS) (CHANGEDSINCE 7 VANISHED)").unwrap() {
            CommandKind::Fetch {
                changed_since,
                vanished,
                ..
            } => assert_eq!((changed_since, vanished), (Some(7), true)),
            other => panic!("{other:?}"),
        }
    }
}
