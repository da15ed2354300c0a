//! A Sieve script and a message from the input (split at the first NUL byte): compile with every
//! extension, run against the message with an environment whose includes return the script
//! itself and a small library, under a tight budget. Beyond "no panic": a compile error names
//! a line of the script; a run's result respects the budget; the implicit keep is cancelled
//! exactly when RFC 5228 says; an edited header is a well-formed header block.

use postern::proto::sieve::{
    compile_with_limits, run, Action, Budget, Envelope, Environment, Extensions, Input, Limits,
    SpamScore,
};

struct Env<'a> {
    script: &'a str,
    calls: usize,
}

impl Environment for Env<'_> {
    fn mailbox_exists(&mut self, name: &str) -> bool {
        self.calls += 1;
        name.len().is_multiple_of(2)
    }
    fn include(&mut self, global: bool, name: &str) -> Option<String> {
        self.calls += 1;
        match (global, name) {
            (false, "self") => Some(self.script.to_string()),
            (_, "lib") => Some(
                "require [\"include\", \"variables\", \"fileinto\"]; global \"g\"; \
                 fileinto \"${g}x\"; return;"
                    .into(),
            ),
            _ => None,
        }
    }
    fn duplicate(&mut self, id: &str, _handle: &str, _seconds: u64, _last: bool) -> bool {
        self.calls += 1;
        id.len().is_multiple_of(3)
    }
}

pub fn script(data: &[u8]) {
    let (script, message) = match data.iter().position(|&b| b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &b"From: a@b.c\r\nSubject: x\r\n\r\nbody\r\n"[..]),
    };
    let Ok(source) = std::str::from_utf8(script) else {
        return;
    };
    let limits = Limits {
        max_script_size: 64 << 10,
        max_nesting: 16,
        max_string_len: 8 << 10,
        max_nodes: 2000,
    };
    let compiled = match compile_with_limits(source, &Extensions::all(), &limits) {
        Ok(c) => c,
        Err(e) => {
            let lines = source.split('\n').count();
            assert!(
                e.line >= 1 && e.line <= lines,
                "error on line {} of a {lines}-line script: {e}",
                e.line
            );
            return;
        }
    };
    let envelope = Envelope {
        from: "sender@example.com".into(),
        to: "user+tag@example.net".into(),
        orig_to: None,
        auth: None,
    };
    let input = Input {
        envelope: &envelope,
        message,
        spam_score: Some(SpamScore {
            value: 5,
            percent: 50,
        }),
        now: (1_700_000_000, 60),
        subaddress_separator: '+',
    };
    let budget = Budget {
        max_steps: 20_000,
        max_actions: 16,
        max_redirects: 2,
        max_include_depth: 4,
        max_includes: 4,
        max_variable_len: 1024,
        max_variables: 32,
        max_header_edits: 16,
        max_work: 5_000_000,
        limits,
    };
    let mut env = Env {
        script: source,
        calls: 0,
    };
    let Ok(outcome) = run(&compiled, &input, &mut env, &budget) else {
        return;
    };
    assert!(env.calls <= 20_000, "{} environment calls", env.calls);
    assert!(outcome.actions.len() <= budget.max_actions);
    let redirects = outcome
        .actions
        .iter()
        .filter(|a| matches!(a, Action::Redirect { .. }))
        .count();
    assert!(redirects <= budget.max_redirects);
    let cancels = outcome.actions.iter().any(|a| match a {
        Action::Keep { .. } | Action::Discard | Action::Reject { .. } => true,
        Action::FileInto { copy, .. } | Action::Redirect { copy, .. } => !copy,
        Action::Vacation(_) => false,
    });
    assert_eq!(outcome.implicit_keep, !cancels, "{:?}", outcome.actions);
    if let Some(header) = &outcome.edited_header {
        let text = String::from_utf8_lossy(header);
        assert!(text.is_empty() || text.ends_with("\r\n"), "{text:?}");
        for line in text.split("\r\n").filter(|l| !l.is_empty()) {
            assert!(
                line.starts_with([' ', '\t']) || line.contains(':'),
                "not a header line: {line:?}"
            );
        }
    }
}
