//! Sieve tokens (RFC 5228 §8.1): identifiers, tags, numbers with K/M/G, quoted and multi-line
//! strings, punctuation; comments skipped. Line numbers kept for error messages.

use super::{CompileError, Limits};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tok {
    Ident(String),
    Tag(String),
    Number(u64),
    Str(String),
    LBracket,
    RBracket,
    Comma,
    LParen,
    RParen,
    LBrace,
    RBrace,
    Semicolon,
}

#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub tok: Tok,
    pub line: usize,
}

pub(crate) fn lex(src: &str, limits: &Limits) -> Result<Vec<Token>, CompileError> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0usize;
    let mut line = 1usize;
    while let Some(&c) = b.get(i) {
        let start_line = line;
        match c {
            b'\n' => {
                line += 1;
                i += 1;
            }
            b' ' | b'\t' | b'\r' => i += 1,
            b'#' => {
                while let Some(&c) = b.get(i) {
                    if c == b'\n' {
                        break;
                    }
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                loop {
                    match b.get(i) {
                        None => return Err(CompileError::new(start_line, "unterminated comment")),
                        Some(b'*') if b.get(i + 1) == Some(&b'/') => {
                            i += 2;
                            break;
                        }
                        Some(b'\n') => {
                            line += 1;
                            i += 1;
                        }
                        Some(_) => i += 1,
                    }
                }
            }
            b'"' => {
                i += 1;
                let mut s = Vec::new();
                loop {
                    match b.get(i) {
                        None => return Err(CompileError::new(start_line, "unterminated string")),
                        Some(b'"') => {
                            i += 1;
                            break;
                        }
                        Some(b'\\') => {
                            match b.get(i + 1) {
                                Some(&e) => {
                                    if e == b'\n' {
                                        line += 1;
                                    }
                                    s.push(e);
                                }
                                None => {
                                    return Err(CompileError::new(
                                        start_line,
                                        "unterminated string",
                                    ))
                                }
                            }
                            i += 2;
                        }
                        Some(&c) => {
                            if c == b'\n' {
                                line += 1;
                                // A bare LF in a quoted string stands for CRLF (RFC 5228 §2.4.2).
                                if s.last() != Some(&b'\r') {
                                    s.push(b'\r');
                                }
                            }
                            s.push(c);
                            i += 1;
                        }
                    }
                    if s.len() > limits.max_string_len {
                        return Err(CompileError::new(start_line, "string too long"));
                    }
                }
                out.push(Token {
                    tok: Tok::Str(utf8(s, start_line)?),
                    line: start_line,
                });
            }
            b':' => {
                i += 1;
                let id = ident(b, &mut i);
                if id.is_empty() {
                    return Err(CompileError::new(line, "a tag needs a name after ':'"));
                }
                out.push(Token {
                    tok: Tok::Tag(id.to_ascii_lowercase()),
                    line,
                });
            }
            b'0'..=b'9' => {
                let mut n: u64 = 0;
                while let Some(&d) = b.get(i) {
                    if !d.is_ascii_digit() {
                        break;
                    }
                    n = n
                        .checked_mul(10)
                        .and_then(|n| n.checked_add(u64::from(d - b'0')))
                        .ok_or_else(|| CompileError::new(line, "number too large"))?;
                    i += 1;
                }
                let mult: u64 = match b.get(i) {
                    Some(b'K' | b'k') => 1 << 10,
                    Some(b'M' | b'm') => 1 << 20,
                    Some(b'G' | b'g') => 1 << 30,
                    _ => 1,
                };
                if mult > 1 {
                    i += 1;
                }
                let n = n
                    .checked_mul(mult)
                    .ok_or_else(|| CompileError::new(line, "number too large"))?;
                out.push(Token {
                    tok: Tok::Number(n),
                    line,
                });
            }
            b'a'..=b'z' | b'A'..=b'Z' | b'_' => {
                let id = ident(b, &mut i);
                if id.eq_ignore_ascii_case("text") && b.get(i) == Some(&b':') {
                    i += 1;
                    let s = multiline(b, &mut i, &mut line, limits)?;
                    out.push(Token {
                        tok: Tok::Str(utf8(s, start_line)?),
                        line: start_line,
                    });
                } else {
                    out.push(Token {
                        tok: Tok::Ident(id.to_ascii_lowercase()),
                        line,
                    });
                }
            }
            b'[' | b']' | b',' | b'(' | b')' | b'{' | b'}' | b';' => {
                let tok = match c {
                    b'[' => Tok::LBracket,
                    b']' => Tok::RBracket,
                    b',' => Tok::Comma,
                    b'(' => Tok::LParen,
                    b')' => Tok::RParen,
                    b'{' => Tok::LBrace,
                    b'}' => Tok::RBrace,
                    _ => Tok::Semicolon,
                };
                out.push(Token { tok, line });
                i += 1;
            }
            other => {
                return Err(CompileError::new(
                    line,
                    format!("unexpected character {:?}", char::from(other)),
                ))
            }
        }
    }
    Ok(out)
}

fn utf8(s: Vec<u8>, line: usize) -> Result<String, CompileError> {
    String::from_utf8(s).map_err(|_| CompileError::new(line, "string is not valid UTF-8"))
}

fn ident(b: &[u8], i: &mut usize) -> String {
    let start = *i;
    while let Some(&c) = b.get(*i) {
        if c.is_ascii_alphanumeric() || c == b'_' {
            *i += 1;
        } else {
            break;
        }
    }
    String::from_utf8_lossy(b.get(start..*i).unwrap_or_default()).into_owned()
}

/// `text:` already consumed: optional blanks and a `#` comment, a line end, then lines up to a
/// lone `.`; a leading `..` is a dot-stuffed `.`. Line ends in the value are CRLF.
fn multiline(
    b: &[u8],
    i: &mut usize,
    line: &mut usize,
    limits: &Limits,
) -> Result<Vec<u8>, CompileError> {
    let start = *line;
    while let Some(&c) = b.get(*i) {
        match c {
            b' ' | b'\t' | b'\r' => *i += 1,
            b'#' => {
                while let Some(&c) = b.get(*i) {
                    if c == b'\n' {
                        break;
                    }
                    *i += 1;
                }
            }
            b'\n' => break,
            _ => return Err(CompileError::new(*line, "text: must end its line")),
        }
    }
    if b.get(*i) != Some(&b'\n') {
        return Err(CompileError::new(start, "unterminated text: string"));
    }
    *i += 1;
    *line += 1;
    let mut out = Vec::new();
    loop {
        let ls = *i;
        let mut le = ls;
        while let Some(&c) = b.get(le) {
            if c == b'\n' {
                break;
            }
            le += 1;
        }
        if le >= b.len() {
            return Err(CompileError::new(start, "unterminated text: string"));
        }
        let mut content = b.get(ls..le).unwrap_or_default();
        if let Some(stripped) = content.strip_suffix(b"\r") {
            content = stripped;
        }
        *i = le + 1;
        *line += 1;
        if content == b"." {
            break;
        }
        let content = content.strip_prefix(b"..").map_or(content, |rest| {
            // "..x" is ".x": drop one dot.
            b.get(ls + 1..ls + 2 + rest.len()).unwrap_or(rest)
        });
        out.extend_from_slice(content);
        out.extend_from_slice(b"\r\n");
        if out.len() > limits.max_string_len {
            return Err(CompileError::new(start, "string too long"));
        }
    }
    Ok(out)
}
