//! Sieve (RFC 5228) mail filtering: an I/O-free interpreter. A user's script is compiled once
//! ([`compile`]) and run per delivered recipient ([`run`]) against the envelope and the message;
//! the result is a list of [`Action`]s for the delivery glue to carry out, and whether the
//! implicit keep (filing into INBOX) still applies.
//!
//! Extensions: `fileinto`, `envelope`, `encoded-character`, `mailbox` (RFC 5490), `reject` and
//! `ereject` (RFC 5429), `variables` (RFC 5229), `imap4flags` (RFC 5232), `body` (RFC 5173),
//! `relational` (RFC 5231), `subaddress` (RFC 5233), `copy` (RFC 3894), `date` and `index`
//! (RFC 5260), `vacation` (RFC 5230), `vacation-seconds` (RFC 6131), `editheader` (RFC 5293),
//! `spamtest` (RFC 5235), `duplicate` (RFC 7352), `include` (RFC 6609), and the comparators
//! `i;octet`, `i;ascii-casemap`, `i;ascii-numeric`.
//!
//! **Errors never lose mail**: a script that does not compile, a [`RuntimeError`] or an exceeded
//! [`Budget`] means the caller files the message into INBOX (implicit keep) and logs why. Every
//! reader is bounded: script size and nesting at compile time ([`Limits`]), steps, actions,
//! redirects, includes and variable sizes at run time ([`Budget`]). `:matches` is a linear-time
//! wildcard matcher (no regular expressions, no exponential backtracking).

mod ast;
mod compare;
mod encoded;
mod eval;
mod extensions;
mod lexer;
mod message;
mod parser;
mod strings;
mod tests_eval;
pub mod vacation;
mod validate;

#[cfg(test)]
mod tests;

pub use extensions::{Extension, Extensions};

use std::fmt;

/// A compiled script: parse once, run for every recipient.
#[derive(Debug, Clone)]
pub struct Script {
    pub(crate) commands: Vec<ast::Command>,
    /// The extensions the script `require`s (checked against the enabled set at compile time).
    pub(crate) required: Extensions,
    /// The extensions that were enabled when it compiled (included scripts compile with them).
    pub(crate) enabled: Extensions,
}

impl Script {
    /// The extensions the script declared with `require`.
    pub fn required(&self) -> &Extensions {
        &self.required
    }
}

/// Compile-time bounds on a script.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest script accepted, in bytes (default 1 MiB).
    pub max_script_size: usize,
    /// Deepest nesting of blocks and tests (default 32).
    pub max_nesting: usize,
    /// Longest string literal, in bytes (default 64 KiB).
    pub max_string_len: usize,
    /// Most commands plus tests in one script (default 10 000).
    pub max_nodes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_script_size: 1 << 20,
            max_nesting: 32,
            max_string_len: 64 << 10,
            max_nodes: 10_000,
        }
    }
}

/// Why a script did not compile: the 1-based line and what is wrong. Displays as
/// `line N: message`, the form ManageSieve's PUTSCRIPT/CHECKSCRIPT report.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct CompileError {
    pub line: usize,
    pub message: String,
}

impl CompileError {
    pub(crate) fn new(line: usize, message: impl Into<String>) -> Self {
        CompileError {
            line,
            message: message.into(),
        }
    }
}

/// Compile `source` with the extensions `ext` enables and the default [`Limits`].
pub fn compile(source: &str, ext: &Extensions) -> Result<Script, CompileError> {
    compile_with_limits(source, ext, &Limits::default())
}

/// Compile `source` with explicit [`Limits`].
pub fn compile_with_limits(
    source: &str,
    ext: &Extensions,
    limits: &Limits,
) -> Result<Script, CompileError> {
    if source.len() > limits.max_script_size {
        return Err(CompileError::new(
            1,
            format!(
                "script is {} bytes, larger than the limit of {}",
                source.len(),
                limits.max_script_size
            ),
        ));
    }
    let tokens = lexer::lex(source, limits)?;
    let generic = parser::parse(&tokens, limits)?;
    validate::validate(&generic, ext)
}

/// The SMTP envelope of the delivery being filtered. Addresses without angle brackets; the
/// null reverse-path is the empty string.
#[derive(Debug, Clone, Default)]
pub struct Envelope {
    /// MAIL FROM (empty for `<>`).
    pub from: String,
    /// The RCPT TO this delivery is for (`envelope "to"`): the address as the client gave it,
    /// before any alias expanded it (RFC 5228 §5.4).
    pub to: String,
    /// The original recipient (RFC 3461 ORCPT), when known (`envelope "orig_to"`; `to` when
    /// `None`).
    pub orig_to: Option<String>,
    /// The authenticated submitter (AUTH= or SASL login), when known.
    pub auth: Option<String>,
}

/// A spam verdict for `spamtest` (RFC 5235), given by the environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpamScore {
    /// 1 (certainly not spam) … 10 (certainly spam). 0 is "not tested" — pass `None` instead.
    pub value: u8,
    /// 0 … 100, for `spamtest :percent`.
    pub percent: u8,
}

impl SpamScore {
    /// A verdict from a spam probability in percent (0 = certainly ham, 100 = certainly spam):
    /// `value` = 1 + 9 × percent / 100, rounded, as Pigeonhole maps its scores.
    pub fn from_percent(percent: u8) -> Self {
        let p = u32::from(percent.min(100));
        SpamScore {
            value: (1 + (p * 9 + 50) / 100) as u8,
            percent: p as u8,
        }
    }
}

/// What one run filters: the envelope, the message (header and body as received, CRLF or LF
/// line ends), the environment's facts.
#[derive(Debug, Clone)]
pub struct Input<'a> {
    pub envelope: &'a Envelope,
    pub message: &'a [u8],
    /// The spam verdict, if a filter produced one; `None` makes `spamtest` see "0" (not tested).
    pub spam_score: Option<SpamScore>,
    /// Now, as Unix seconds and the local zone's offset from UTC in minutes east
    /// (for `currentdate` and `date` without `:zone`).
    pub now: (i64, i32),
    /// The subaddress separator (RFC 5233), `+` by default.
    pub subaddress_separator: char,
}

/// The glue's side of the run: questions the interpreter cannot answer without I/O.
pub trait Environment {
    /// Whether the user's mailbox `name` exists (`mailboxexists`, RFC 5490).
    fn mailbox_exists(&mut self, name: &str) -> bool;
    /// The source text of the script `name` for `include` (RFC 6609): the user's own
    /// (`global == false`, `:personal`) or the admin's (`global == true`). `None` if there is none.
    fn include(&mut self, global: bool, name: &str) -> Option<String>;
    /// `duplicate` (RFC 7352): whether the message identified by `id` was seen before under
    /// `handle` within `seconds`; the environment records it (and, with `last`, renews the
    /// period). `true` = seen before.
    fn duplicate(&mut self, id: &str, handle: &str, seconds: u64, last: bool) -> bool;
}

/// An environment with no mailboxes, no includes, nothing seen: for checks and tests.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoEnvironment;

impl Environment for NoEnvironment {
    fn mailbox_exists(&mut self, _name: &str) -> bool {
        false
    }
    fn include(&mut self, _global: bool, _name: &str) -> Option<String> {
        None
    }
    fn duplicate(&mut self, _id: &str, _handle: &str, _seconds: u64, _last: bool) -> bool {
        false
    }
}

/// Run-time bounds. Exceeding one is a [`RuntimeError`]: the caller keeps the message in INBOX.
#[derive(Debug, Clone)]
pub struct Budget {
    /// Commands plus tests evaluated (default 100 000).
    pub max_steps: u64,
    /// Actions in the result (default 64).
    pub max_actions: usize,
    /// `redirect` actions (default 4).
    pub max_redirects: usize,
    /// Nesting of `include` (default 10).
    pub max_include_depth: usize,
    /// Distinct scripts included in one run (default 32).
    pub max_includes: usize,
    /// Longest value a variable holds, in bytes; longer values are truncated at a character
    /// boundary as RFC 5229 allows (default 4096).
    pub max_variable_len: usize,
    /// Number of variables (default 256).
    pub max_variables: usize,
    /// Header edits (`addheader`/`deleteheader`) in one run (default 64).
    pub max_header_edits: usize,
    /// Work in one run: bytes of strings expanded and compared, wildcard steps (default
    /// 100 000 000, a fraction of a second).
    pub max_work: u64,
    /// Limits for compiling included scripts.
    pub limits: Limits,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            max_steps: 100_000,
            max_actions: 64,
            max_redirects: 4,
            max_include_depth: 10,
            max_includes: 32,
            max_variable_len: 4096,
            max_variables: 256,
            max_header_edits: 64,
            max_work: 100_000_000,
            limits: Limits::default(),
        }
    }
}

/// Why a run failed. The caller keeps the message in INBOX (implicit keep) and logs this.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuntimeError {
    #[error("the script ran more than {0} steps")]
    TooManySteps(u64),
    #[error("the script produced more than {0} actions")]
    TooManyActions(usize),
    #[error("the script redirects more than {0} times")]
    TooManyRedirects(usize),
    #[error("include nesting deeper than {0}")]
    IncludeTooDeep(usize),
    #[error("more than {0} scripts included")]
    TooManyIncludes(usize),
    #[error("include of {0}: script not found")]
    IncludeMissing(String),
    #[error("include of {name}: {error}")]
    IncludeCompile { name: String, error: CompileError },
    #[error("include of {0}: the script includes itself")]
    IncludeLoop(String),
    #[error("more than {0} variables")]
    TooManyVariables(usize),
    #[error("the script did more than {0} units of work (string expansion and matching)")]
    TooMuchWork(u64),
    #[error("more than {0} header edits")]
    TooManyHeaderEdits(usize),
    #[error("{0}")]
    Invalid(String),
    #[error("{0} conflicts with {1}")]
    Conflict(&'static str, &'static str),
}

/// The result of a successful run.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Outcome {
    /// Explicit actions in the order the script took them (duplicates merged).
    pub actions: Vec<Action>,
    /// Whether the implicit keep still applies: file into INBOX with `implicit_keep_flags`.
    pub implicit_keep: bool,
    /// The IMAP flags the implicit keep files with (imap4flags' internal variable at the end).
    pub implicit_keep_flags: Vec<String>,
    /// `editheader` result: the new header block (fields with their line ends, up to and
    /// excluding the empty line). `None` when the header was not edited. Deliver
    /// `edited_header + "\r\n" + body` for keep/fileinto/redirect.
    pub edited_header: Option<Vec<u8>>,
}

impl Outcome {
    /// The message to deliver after `editheader`: the edited header, an empty line, and the
    /// body of `original` (the message the script ran on). `None` when the header was not
    /// edited (deliver `original`).
    pub fn edited_message(&self, original: &[u8]) -> Option<Vec<u8>> {
        let header = self.edited_header.as_ref()?;
        let body = message::Message::parse(original).body;
        let mut out = Vec::with_capacity(header.len() + 2 + body.len());
        out.extend_from_slice(header);
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(body);
        Some(out)
    }
}

/// What the script asks the delivery to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// File into INBOX with these IMAP flags.
    Keep { flags: Vec<String> },
    /// File into `mailbox` (UTF-8 name as the script gave it, hierarchy separator `/` or `.`
    /// left as written), creating it first with `create` (RFC 5490 `:create`). `copy` (RFC 3894)
    /// did not cancel the implicit keep.
    FileInto {
        mailbox: String,
        flags: Vec<String>,
        create: bool,
        copy: bool,
    },
    /// Resend to `address` (RFC 5228 §4.2).
    Redirect { address: String, copy: bool },
    /// Drop silently.
    Discard,
    /// Refuse with `reason`: `extended` is `ereject` (RFC 5429; may be an SMTP-level refusal).
    Reject { reason: String, extended: bool },
    /// An auto-reply candidate (RFC 5230/6131); the glue applies RFC 3834 and the
    /// once-per-period tracking ([`vacation::should_reply`] has the message-only checks).
    Vacation(Vacation),
}

/// All parameters of a `vacation` action, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vacation {
    /// The reply text (or, with `mime`, a MIME entity: headers then body).
    pub reason: String,
    /// `:subject`, if given (otherwise the glue uses "Auto: " + original subject).
    pub subject: Option<String>,
    /// `:from`, if given.
    pub from: Option<String>,
    /// `:addresses`: the user's other addresses.
    pub addresses: Vec<String>,
    /// `:mime`: `reason` is a MIME entity.
    pub mime: bool,
    /// `:handle`, or one derived from reason/subject/from/mime as RFC 5230 §4.2 says.
    pub handle: String,
    /// The period: `:days` × 86400 or `:seconds`; default 7 days. Not clamped here.
    pub period_seconds: u64,
    /// The reply recipient: the envelope sender.
    pub to: String,
}

impl fmt::Display for Action {
    /// The one-line form the oracle test compares (close to Pigeonhole's `sieve-test` output).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Keep { flags } => write!(f, "keep{}", flags_suffix(flags)),
            Action::FileInto {
                mailbox,
                flags,
                copy,
                ..
            } => write!(
                f,
                "fileinto {mailbox}{}{}",
                flags_suffix(flags),
                if *copy { " (copy)" } else { "" }
            ),
            Action::Redirect { address, copy } => {
                write!(
                    f,
                    "redirect {address}{}",
                    if *copy { " (copy)" } else { "" }
                )
            }
            Action::Discard => write!(f, "discard"),
            Action::Reject { extended, .. } => {
                write!(f, "{}", if *extended { "ereject" } else { "reject" })
            }
            Action::Vacation(v) => write!(f, "vacation to {}", v.to),
        }
    }
}

fn flags_suffix(flags: &[String]) -> String {
    if flags.is_empty() {
        String::new()
    } else {
        format!(" flags [{}]", flags.join(" "))
    }
}

/// Run `script` for one recipient. On `Err`, the caller keeps the message in INBOX (implicit
/// keep) and logs the error; nothing the script did counts.
pub fn run(
    script: &Script,
    input: &Input<'_>,
    env: &mut dyn Environment,
    budget: &Budget,
) -> Result<Outcome, RuntimeError> {
    eval::run(script, input, env, budget)
}
