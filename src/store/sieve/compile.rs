//! Compiling stored scripts with the interpreter ([`crate::proto::sieve`]) under `[sieve]`'s
//! limits: the one check PUTSCRIPT, CHECKSCRIPT, SETACTIVE, `postern sieve put/check` and
//! delivery share.

use crate::config::sieve::Sieve;
use crate::proto::sieve::{compile_with_limits, Extensions, Limits, Script};

/// The extensions scripts may use.
pub fn extensions() -> Extensions {
    Extensions::all()
}

/// The SIEVE capability (ManageSieve): the extension names, space-separated.
pub fn capability() -> String {
    extensions().capability_string()
}

/// The compile-time limits under `config`.
pub fn limits(config: &Sieve) -> Limits {
    Limits {
        max_script_size: usize::try_from(config.max_script_size.0).unwrap_or(usize::MAX),
        ..Limits::default()
    }
}

/// Compiles `text`: `Err` is the problem with its line, `line N: …` (also for text that is
/// not UTF-8).
pub fn compile(config: &Sieve, text: &[u8]) -> Result<Script, String> {
    let source = std::str::from_utf8(text).map_err(|e| {
        let line = text
            .get(..e.valid_up_to())
            .map_or(1, |t| t.iter().filter(|&&b| b == b'\n').count() + 1);
        format!("line {line}: the script is not UTF-8")
    })?;
    compile_with_limits(source, &extensions(), &limits(config)).map_err(|e| e.to_string())
}

/// Whether `text` compiles (see [`compile`]).
pub fn check(config: &Sieve, text: &[u8]) -> Result<(), String> {
    compile(config, text).map(drop)
}
