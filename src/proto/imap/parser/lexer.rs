//! Low-level IMAP grammar pieces over one complete command buffer (line and
//! inline literals, exactly as received).

use super::super::flag::{is_atom_char, Flag};
use super::super::sequence::SequenceSet;
use super::ParseErrorKind;

/// What a list missing its `)` at the end of the line expected.
const UNBALANCED: &str = "')' (unbalanced parentheses)";

/// Result of a grammar step.
pub(crate) type Lex<T> = Result<T, ParseErrorKind>;

/// Largest number of elements in any parenthesised list the parser accepts.
pub(crate) const MAX_LIST_ITEMS: usize = 1000;

/// A cursor over a complete command.
pub(crate) struct Lexer<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Lexer<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Lexer { buf, pos: 0 }
    }

    pub(crate) fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    pub(crate) fn rest(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or_default()
    }

    /// Consumes `b` if it is next.
    pub(crate) fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    pub(crate) fn expect(&mut self, b: u8, what: &'static str) -> Lex<()> {
        if self.eat(b) {
            Ok(())
        } else {
            Err(ParseErrorKind::Expected(what))
        }
    }

    pub(crate) fn sp(&mut self) -> Lex<()> {
        self.expect(b' ', "a space")
    }

    /// Consumes an ASCII keyword case-insensitively if it is next.
    pub(crate) fn eat_keyword(&mut self, word: &str) -> bool {
        let rest = self.rest();
        if rest
            .get(..word.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(word.as_bytes()))
        {
            self.pos += word.len();
            true
        } else {
            false
        }
    }

    /// Whether the line ends here (CRLF or a bare LF).
    pub(crate) fn at_eol(&self) -> bool {
        matches!(self.peek(), None | Some(b'\r') | Some(b'\n'))
    }

    /// The end of the command: CRLF (or LF) and nothing after it.
    pub(crate) fn end(&mut self) -> Lex<()> {
        self.eat(b'\r');
        if !self.eat(b'\n') && self.peek().is_some() {
            return Err(ParseErrorKind::TrailingData);
        }
        if self.peek().is_some() {
            return Err(ParseErrorKind::TrailingData);
        }
        Ok(())
    }

    pub(crate) fn take_while(&mut self, pred: impl Fn(u8) -> bool) -> &'a [u8] {
        let start = self.pos;
        while self.peek().is_some_and(&pred) {
            self.pos += 1;
        }
        self.buf.get(start..self.pos).unwrap_or_default()
    }

    /// `atom`: one or more ATOM-CHARs.
    pub(crate) fn atom(&mut self) -> Lex<&'a [u8]> {
        let atom = self.take_while(is_atom_char);
        if atom.is_empty() {
            Err(ParseErrorKind::Expected("an atom"))
        } else {
            Ok(atom)
        }
    }

    /// An atom, upper-cased (command names, keywords).
    pub(crate) fn keyword(&mut self) -> Lex<String> {
        Ok(String::from_utf8_lossy(self.atom()?).to_ascii_uppercase())
    }

    /// A run of letters, digits, `.` and `-` (FETCH attribute and search key names,
    /// which `[` or `<` may follow).
    pub(crate) fn name(&mut self) -> Lex<String> {
        let name = self.take_while(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
        if name.is_empty() {
            return Err(ParseErrorKind::Expected("a name"));
        }
        Ok(String::from_utf8_lossy(name).to_ascii_uppercase())
    }

    pub(crate) fn number(&mut self) -> Lex<u32> {
        let digits = self.take_while(|b| b.is_ascii_digit());
        super::super::sequence::parse_number_u32(digits).ok_or(ParseErrorKind::BadNumber)
    }

    pub(crate) fn nz_number(&mut self) -> Lex<u32> {
        let n = self.number()?;
        if n == 0 {
            Err(ParseErrorKind::BadNumber)
        } else {
            Ok(n)
        }
    }

    /// RFC 7162 `mod-sequence-value` (up to 2^63-1).
    pub(crate) fn number64(&mut self) -> Lex<u64> {
        let digits = self.take_while(|b| b.is_ascii_digit());
        if digits.is_empty() || digits.len() > 19 {
            return Err(ParseErrorKind::BadNumber);
        }
        std::str::from_utf8(digits)
            .ok()
            .and_then(|d| d.parse::<u64>().ok())
            .filter(|&n| n <= i64::MAX as u64)
            .ok_or(ParseErrorKind::BadNumber)
    }

    /// `quoted`: `"` chars with `\"` and `\\` escapes `"`.
    pub(crate) fn quoted(&mut self) -> Lex<Vec<u8>> {
        self.expect(b'"', "a quoted string")?;
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None | Some(b'\r') | Some(b'\n') => return Err(ParseErrorKind::UnterminatedQuote),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(c @ (b'"' | b'\\')) => {
                            out.push(c);
                            self.pos += 1;
                        }
                        _ => return Err(ParseErrorKind::BadEscape),
                    }
                }
                Some(c) => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    /// `literal`: `{n}` or `{n+}`, CRLF, n bytes (all already received).
    pub(crate) fn literal(&mut self) -> Lex<&'a [u8]> {
        self.expect(b'{', "a literal")?;
        let size = self.number()? as usize;
        self.eat(b'+');
        self.expect(b'}', "'}'")?;
        self.eat(b'\r');
        self.expect(b'\n', "a line end after the literal size")?;
        let end = self
            .pos
            .checked_add(size)
            .ok_or(ParseErrorKind::Expected("literal data"))?;
        let data = self
            .buf
            .get(self.pos..end)
            .ok_or(ParseErrorKind::Expected("literal data"))?;
        self.pos = end;
        Ok(data)
    }

    /// `string`: quoted or literal.
    pub(crate) fn string(&mut self) -> Lex<Vec<u8>> {
        match self.peek() {
            Some(b'"') => self.quoted(),
            Some(b'{') => Ok(self.literal()?.to_vec()),
            _ => Err(ParseErrorKind::Expected("a string")),
        }
    }

    /// `astring`: 1*ASTRING-CHAR or string.
    pub(crate) fn astring(&mut self) -> Lex<Vec<u8>> {
        match self.peek() {
            Some(b'"') | Some(b'{') => self.string(),
            _ => {
                let atom = self.take_while(|b| is_atom_char(b) || b == b']');
                if atom.is_empty() {
                    Err(ParseErrorKind::Expected("a string"))
                } else {
                    Ok(atom.to_vec())
                }
            }
        }
    }

    /// An astring that must be UTF-8.
    pub(crate) fn astring_utf8(&mut self) -> Lex<String> {
        String::from_utf8(self.astring()?).map_err(|_| ParseErrorKind::InvalidUtf8)
    }

    /// `nstring`: NIL or string.
    pub(crate) fn nstring_utf8(&mut self) -> Lex<Option<String>> {
        if self.eat_keyword("NIL") {
            return Ok(None);
        }
        String::from_utf8(self.string()?)
            .map(Some)
            .map_err(|_| ParseErrorKind::InvalidUtf8)
    }

    /// `list-mailbox`: 1*list-char or string (wildcards and `]` allowed).
    pub(crate) fn list_mailbox(&mut self) -> Lex<String> {
        let bytes = match self.peek() {
            Some(b'"') | Some(b'{') => self.string()?,
            _ => {
                let atom = self.take_while(|b| is_atom_char(b) || matches!(b, b'%' | b'*' | b']'));
                if atom.is_empty() {
                    return Err(ParseErrorKind::Expected("a mailbox pattern"));
                }
                atom.to_vec()
            }
        };
        String::from_utf8(bytes).map_err(|_| ParseErrorKind::InvalidUtf8)
    }

    /// `sequence-set`.
    pub(crate) fn sequence_set(&mut self) -> Lex<SequenceSet> {
        if self.eat(b'$') {
            return Ok(SequenceSet::saved());
        }
        let text = self.take_while(|b| b.is_ascii_digit() || matches!(b, b':' | b',' | b'*'));
        SequenceSet::parse(text).map_err(ParseErrorKind::BadSequence)
    }

    /// A flag (`\Seen`, keyword); `\*` is accepted only when `allow_wildcard`.
    pub(crate) fn flag(&mut self) -> Lex<Flag> {
        let backslash = self.eat(b'\\');
        let atom = self.take_while(is_atom_char);
        let text = String::from_utf8_lossy(atom);
        let text = if backslash {
            format!("\\{text}")
        } else {
            text.into_owned()
        };
        Flag::parse(&text).ok_or(ParseErrorKind::BadFlag)
    }

    /// `flag-list`: `(` [flag *(SP flag)] `)`.
    pub(crate) fn flag_list(&mut self) -> Lex<Vec<Flag>> {
        self.expect(b'(', "'('")?;
        let mut flags = Vec::new();
        if self.eat(b')') {
            return Ok(flags);
        }
        loop {
            if flags.len() >= MAX_LIST_ITEMS {
                return Err(ParseErrorKind::TooMany);
            }
            flags.push(self.flag()?);
            if self.eat(b')') {
                return Ok(flags);
            }
            self.list_sp()?;
        }
    }

    /// Parses `(` item *(SP item) `)` with a bound on the item count.
    /// Whether only the line end is left.
    fn at_line_end(&self) -> bool {
        matches!(self.rest(), b"" | b"\n" | b"\r\n")
    }

    /// Consumes the `)` closing a list; at the end of the line the parentheses are unbalanced.
    pub(crate) fn close_paren(&mut self) -> Lex<()> {
        if self.at_line_end() {
            return Err(ParseErrorKind::Expected(UNBALANCED));
        }
        self.expect(b')', "')'")
    }

    /// The space between two list items (the list did not end with `)`).
    pub(crate) fn list_sp(&mut self) -> Lex<()> {
        if self.at_line_end() {
            return Err(ParseErrorKind::Expected(UNBALANCED));
        }
        self.expect(b' ', "a space or ')'")
    }

    pub(crate) fn paren_list<T>(
        &mut self,
        mut item: impl FnMut(&mut Self) -> Lex<T>,
    ) -> Lex<Vec<T>> {
        self.expect(b'(', "'('")?;
        let mut items = Vec::new();
        loop {
            if items.len() >= MAX_LIST_ITEMS {
                return Err(ParseErrorKind::TooMany);
            }
            items.push(item(self)?);
            if self.eat(b')') {
                return Ok(items);
            }
            self.list_sp()?;
        }
    }
}
