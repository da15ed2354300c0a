//! The generic Sieve grammar (RFC 5228 §8.2): commands with arguments, tests and blocks, before
//! any command is known. `validate` turns this into the typed tree.

use super::lexer::{Tok, Token};
use super::{CompileError, Limits};

#[derive(Debug, Clone)]
pub(crate) enum Arg {
    Tag(String),
    Number(u64),
    /// A string or a string list; `list` tells which was written.
    Strings {
        values: Vec<String>,
        list: bool,
    },
}

#[derive(Debug, Clone)]
pub(crate) struct GTest {
    pub name: String,
    pub line: usize,
    pub args: Vec<Arg>,
    pub tests: Vec<GTest>,
}

#[derive(Debug, Clone)]
pub(crate) struct GCommand {
    pub name: String,
    pub line: usize,
    pub args: Vec<Arg>,
    pub tests: Vec<GTest>,
    /// Whether tests were written as a parenthesised list.
    pub test_list: bool,
    pub block: Option<Vec<GCommand>>,
}

struct P<'a> {
    toks: &'a [Token],
    at: usize,
    limits: &'a Limits,
    nodes: usize,
}

pub(crate) fn parse(toks: &[Token], limits: &Limits) -> Result<Vec<GCommand>, CompileError> {
    let mut p = P {
        toks,
        at: 0,
        limits,
        nodes: 0,
    };
    let cmds = p.commands(0)?;
    if let Some(t) = p.peek() {
        return Err(CompileError::new(t.line, "unexpected '}'"));
    }
    Ok(cmds)
}

impl P<'_> {
    fn peek(&self) -> Option<&Token> {
        self.toks.get(self.at)
    }

    fn line(&self) -> usize {
        self.peek()
            .or_else(|| self.toks.last())
            .map_or(1, |t| t.line)
    }

    fn next(&mut self) -> Option<&Token> {
        let t = self.toks.get(self.at);
        self.at += 1;
        t
    }

    fn count(&mut self, line: usize) -> Result<(), CompileError> {
        self.nodes += 1;
        if self.nodes > self.limits.max_nodes {
            return Err(CompileError::new(
                line,
                "script has too many commands and tests",
            ));
        }
        Ok(())
    }

    fn commands(&mut self, depth: usize) -> Result<Vec<GCommand>, CompileError> {
        if depth > self.limits.max_nesting {
            return Err(CompileError::new(self.line(), "blocks nested too deeply"));
        }
        let mut out = Vec::new();
        while let Some(t) = self.peek() {
            if t.tok == Tok::RBrace {
                break;
            }
            out.push(self.command(depth)?);
        }
        Ok(out)
    }

    fn command(&mut self, depth: usize) -> Result<GCommand, CompileError> {
        let line = self.line();
        let name = match self.next() {
            Some(Token {
                tok: Tok::Ident(n), ..
            }) => n.clone(),
            _ => return Err(CompileError::new(line, "expected a command")),
        };
        self.count(line)?;
        let (args, tests, test_list) = self.arguments(depth)?;
        let block = match self.next().map(|t| &t.tok) {
            Some(Tok::Semicolon) => None,
            Some(Tok::LBrace) => {
                let cmds = self.commands(depth + 1)?;
                match self.next().map(|t| &t.tok) {
                    Some(Tok::RBrace) => Some(cmds),
                    _ => return Err(CompileError::new(line, "block not closed with '}'")),
                }
            }
            _ => {
                return Err(CompileError::new(
                    self.line(),
                    format!("expected ';' or a block after {name}"),
                ))
            }
        };
        Ok(GCommand {
            name,
            line,
            args,
            tests,
            test_list,
            block,
        })
    }

    #[allow(clippy::type_complexity)]
    fn arguments(&mut self, depth: usize) -> Result<(Vec<Arg>, Vec<GTest>, bool), CompileError> {
        let mut args = Vec::new();
        loop {
            let line = self.line();
            match self.peek().map(|t| t.tok.clone()) {
                Some(Tok::Tag(t)) => {
                    self.at += 1;
                    args.push(Arg::Tag(t));
                }
                Some(Tok::Number(n)) => {
                    self.at += 1;
                    args.push(Arg::Number(n));
                }
                Some(Tok::Str(s)) => {
                    self.at += 1;
                    args.push(Arg::Strings {
                        values: vec![s],
                        list: false,
                    });
                }
                Some(Tok::LBracket) => {
                    self.at += 1;
                    let mut values = Vec::new();
                    loop {
                        match self.next().map(|t| t.tok.clone()) {
                            Some(Tok::Str(s)) => values.push(s),
                            _ => return Err(CompileError::new(line, "expected a string in list")),
                        }
                        match self.next().map(|t| &t.tok) {
                            Some(Tok::Comma) => continue,
                            Some(Tok::RBracket) => break,
                            _ => {
                                return Err(CompileError::new(line, "expected ',' or ']' in list"))
                            }
                        }
                    }
                    args.push(Arg::Strings { values, list: true });
                }
                Some(Tok::Ident(_)) => {
                    let t = self.test(depth + 1)?;
                    return Ok((args, vec![t], false));
                }
                Some(Tok::LParen) => {
                    self.at += 1;
                    let mut tests = Vec::new();
                    loop {
                        tests.push(self.test(depth + 1)?);
                        match self.next().map(|t| &t.tok) {
                            Some(Tok::Comma) => continue,
                            Some(Tok::RParen) => break,
                            _ => {
                                return Err(CompileError::new(
                                    line,
                                    "expected ',' or ')' in test list",
                                ))
                            }
                        }
                    }
                    return Ok((args, tests, true));
                }
                _ => return Ok((args, Vec::new(), false)),
            }
        }
    }

    fn test(&mut self, depth: usize) -> Result<GTest, CompileError> {
        if depth > self.limits.max_nesting {
            return Err(CompileError::new(self.line(), "tests nested too deeply"));
        }
        let line = self.line();
        let name = match self.next() {
            Some(Token {
                tok: Tok::Ident(n), ..
            }) => n.clone(),
            _ => return Err(CompileError::new(line, "expected a test")),
        };
        self.count(line)?;
        let (args, tests, _) = self.arguments(depth)?;
        Ok(GTest {
            name,
            line,
            args,
            tests,
        })
    }
}
