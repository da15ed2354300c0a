//! `[addresses]`: how bare names and address variants are read — the origin that qualifies a bare
//! local name, the recipient delimiter of plus addressing, and the aliases file.
//!
//! ```toml
//! [addresses]
//! origin = "example.test"          # `root`, `To: bob` → root@example.test (default: the first
//!                                  #   domain hosted here, else the host name)
//! recipient_delimiter = "+"        # bob+lists@example.test → bob ("" turns it off)
//! aliases = "/etc/postern/aliases" # /etc/aliases syntax, applied to every domain hosted here …
//! alias_domains = ["example.test"] # … or only to these
//! default_aliases = true           # root, MAILER-DAEMON and abuse go where server.postmaster goes
//! ```
//!
//! The aliases file is the classic one (aliases(5)): `name: target, target, …` with `#`
//! comments, continuation lines starting with white space, and `:include:/path` lists (one
//! target per line, `#` comments). A target is a local name (a user, or another alias: expansion
//! is recursive), or an address. Parsing is pure ([`Aliases::parse`]); [`Aliases::load`] reads
//! the file and its includes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::locate::Seg;
use super::validate::{is_address, is_domain_name};
use super::Config;

/// Largest aliases file (and each included file) read.
pub const MAX_ALIASES_FILE: u64 = 4 * 1024 * 1024;
/// Nesting of `:include:` files.
const MAX_INCLUDE_DEPTH: usize = 4;

/// The `[addresses]` section.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Addresses {
    /// The domain that qualifies a bare local name (sendmail's recipients and sender, `To: root`).
    pub origin: Option<String>,
    /// Separates a user's name from a tag (`bob+lists`); empty: no plus addressing.
    pub recipient_delimiter: String,
    /// The aliases file (aliases(5) syntax).
    pub aliases: Option<PathBuf>,
    /// The domains the aliases apply to; empty: every domain hosted here.
    pub alias_domains: Vec<String>,
    /// `root`, `MAILER-DAEMON` and `abuse` go to `server.postmaster` unless the aliases file, a
    /// handler or a user of that name says otherwise.
    pub default_aliases: bool,
    /// The aliases, read from the file when the configuration is loaded.
    #[serde(skip)]
    pub table: Aliases,
}

impl Default for Addresses {
    fn default() -> Self {
        Addresses {
            origin: None,
            recipient_delimiter: "+".into(),
            aliases: None,
            alias_domains: Vec::new(),
            default_aliases: true,
            table: Aliases::default(),
        }
    }
}

/// The names the default aliases give to the postmaster.
pub const DEFAULT_ALIASES: [&str; 3] = ["root", "mailer-daemon", "abuse"];

/// One problem in the aliases file, with its file and line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliasProblem {
    pub file: PathBuf,
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for AliasProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
    }
}

/// The aliases table: lower-cased name → its targets in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Aliases {
    map: BTreeMap<String, Vec<String>>,
    /// The names that are there only as default aliases (a user of that name comes first).
    defaulted: std::collections::BTreeSet<String>,
}

impl Aliases {
    /// The targets of `name` (case-insensitive), if it is an alias.
    pub fn get(&self, name: &str) -> Option<&[String]> {
        self.map.get(&name.to_ascii_lowercase()).map(Vec::as_slice)
    }

    /// Whether `name` is only a default alias (not in the file).
    pub fn is_default(&self, name: &str) -> bool {
        self.defaulted.contains(&name.to_ascii_lowercase())
    }

    /// How many aliases there are.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Every alias and its targets.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Vec<String>)> {
        self.map.iter()
    }

    /// Parse aliases-file `text` (from `file`, for the messages); `include` reads a
    /// `:include:` file by path, giving its text or why it cannot.
    pub fn parse(
        text: &str,
        file: &Path,
        include: &mut dyn FnMut(&Path) -> Result<String, String>,
    ) -> Result<Aliases, Vec<AliasProblem>> {
        let mut aliases = Aliases::default();
        let mut problems = Vec::new();
        for (line, entry) in logical_lines(text) {
            let problem = |message: String| AliasProblem {
                file: file.to_path_buf(),
                line,
                message,
            };
            let Some((name, rest)) = entry.split_once(':') else {
                problems.push(problem(format!(
                    "{:?} is not `name: target, …`",
                    shorten(&entry)
                )));
                continue;
            };
            let name = name.trim().trim_matches('"');
            if let Err(why) = super::domains::handler_local(name) {
                problems.push(problem(format!("alias name {why}")));
                continue;
            }
            let mut targets = Vec::new();
            let before = problems.len();
            for t in split_targets(rest) {
                match parse_target(&t, 0, include) {
                    Ok(mut list) => targets.append(&mut list),
                    Err(why) => problems.push(problem(why)),
                }
            }
            if problems.len() > before {
                continue;
            }
            if targets.is_empty() {
                problems.push(problem(format!("alias {name:?} has no target")));
                continue;
            }
            let key = name.to_ascii_lowercase();
            if aliases.map.contains_key(&key) {
                problems.push(problem(format!("alias {name:?} is defined twice")));
                continue;
            }
            aliases.map.insert(key, targets);
        }
        if problems.is_empty() {
            Ok(aliases)
        } else {
            Err(problems)
        }
    }

    /// Read and parse the aliases file at `path` with its `:include:` files.
    pub fn load(path: &Path) -> Result<Aliases, Vec<AliasProblem>> {
        let text = read_limited(path).map_err(|message| {
            vec![AliasProblem {
                file: path.to_path_buf(),
                line: 0,
                message,
            }]
        })?;
        Aliases::parse(&text, path, &mut |p| read_limited(p))
    }

    /// Adds the default aliases (to `postmaster`) for the names not given.
    pub fn with_defaults(mut self, postmaster: &str) -> Aliases {
        for name in DEFAULT_ALIASES {
            if !self.map.contains_key(name) {
                self.map
                    .insert(name.to_string(), vec![postmaster.to_string()]);
                self.defaulted.insert(name.to_string());
            }
        }
        self
    }
}

/// A file's text, refusing one over [`MAX_ALIASES_FILE`].
fn read_limited(path: &Path) -> Result<String, String> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read: {e}"))?;
    let mut text = String::new();
    file.take(MAX_ALIASES_FILE + 1)
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot read: {e}"))?;
    if text.len() as u64 > MAX_ALIASES_FILE {
        return Err(format!("larger than {MAX_ALIASES_FILE} bytes"));
    }
    Ok(text)
}

/// The entries of an aliases file with the line each starts on: comments and blank lines gone,
/// continuation lines (starting with white space) joined to the entry before.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out: Vec<(usize, String)> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim_end();
        if line.trim_start().starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let continuation = line.starts_with([' ', '\t']);
        match out.last_mut() {
            Some((_, entry)) if continuation => {
                entry.push(' ');
                entry.push_str(line.trim());
            }
            _ => out.push((i + 1, line.trim().to_string())),
        }
    }
    out
}

/// Targets separated by commas (a quoted target may hold one).
fn split_targets(rest: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in rest.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                cur.push(c);
            }
            ',' if !quoted => {
                out.push(std::mem::take(&mut cur));
            }
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out.into_iter()
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .collect()
}

/// One target: a local name, an address, or `:include:FILE` (its lines, recursively).
fn parse_target(
    t: &str,
    depth: usize,
    include: &mut dyn FnMut(&Path) -> Result<String, String>,
) -> Result<Vec<String>, String> {
    let t = t.trim().trim_start_matches('<').trim_end_matches('>');
    if let Some(file) = t.strip_prefix(":include:") {
        if depth >= MAX_INCLUDE_DEPTH {
            return Err(format!(":include:{file} nests too deep"));
        }
        let path = Path::new(file.trim());
        if !path.is_absolute() {
            return Err(format!(":include:{file}: the path must be absolute"));
        }
        let text = include(path).map_err(|e| format!(":include:{}: {e}", path.display()))?;
        let mut out = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            for t in split_targets(line) {
                out.extend(parse_target(&t, depth + 1, include)?);
            }
        }
        return Ok(out);
    }
    if t.starts_with('|') || t.starts_with('/') {
        return Err(format!(
            "target {:?}: pipes and files are not supported (name a user, an alias or an address)",
            shorten(t)
        ));
    }
    if t.contains('@') {
        if !is_address(t) || crate::proto::smtp::address::check_mailbox(t, true).is_err() {
            return Err(format!("target {:?} is not an address", shorten(t)));
        }
        return Ok(vec![t.to_string()]);
    }
    let name = t.trim_start_matches('\\');
    super::domains::handler_local(name).map_err(|why| format!("target {why}"))?;
    Ok(vec![name.to_string()])
}

fn shorten(s: &str) -> String {
    s.chars().take(60).collect()
}

impl Config {
    /// The domain that qualifies a bare local name: `[addresses] origin`, else the first domain
    /// hosted here, else the host name.
    pub fn origin(&self) -> &str {
        if let Some(o) = &self.addresses.origin {
            return o;
        }
        self.domains
            .iter()
            .find(|d| d.hosted == super::Hosting::Here)
            .map_or(&self.server.hostname, |d| &d.name)
    }

    /// Whether the aliases apply to `domain` (hosted here, and named when a list is given).
    pub fn aliases_apply(&self, domain: &str) -> bool {
        self.is_hosted_here(domain)
            && (self.addresses.alias_domains.is_empty()
                || self
                    .addresses
                    .alias_domains
                    .iter()
                    .any(|d| d.eq_ignore_ascii_case(domain)))
    }

    /// Reads the aliases file (when one is set) into the table, with the default aliases.
    pub fn load_aliases(&mut self) -> Result<(), Vec<AliasProblem>> {
        let table = match &self.addresses.aliases {
            Some(path) => Aliases::load(path)?,
            None => Aliases::default(),
        };
        self.addresses.table = if self.addresses.default_aliases {
            table.with_defaults(&self.server.postmaster)
        } else {
            table
        };
        Ok(())
    }
}

/// Checks of `[addresses]`.
pub(super) fn check(config: &Config, mut problem: impl FnMut(&[Seg<'_>], String)) {
    use Seg::{Index, Key};
    let a = &config.addresses;
    if let Some(o) = &a.origin {
        if !is_domain_name(o) {
            problem(
                &[Key("addresses"), Key("origin")],
                format!("addresses.origin {o:?} must be a domain name"),
            );
        }
    }
    let d = &a.recipient_delimiter;
    if d.chars().count() > 1
        || d.chars()
            .any(|c| c.is_alphanumeric() || c == '@' || c == '.')
    {
        problem(
            &[Key("addresses"), Key("recipient_delimiter")],
            format!(
                "addresses.recipient_delimiter {d:?} must be one character that is not a letter, \
                 digit, '.' or '@' (or empty for none)"
            ),
        );
    }
    for (i, dom) in a.alias_domains.iter().enumerate() {
        if !config.is_hosted_here(dom) {
            problem(
                &[Key("addresses"), Key("alias_domains"), Index(i)],
                format!("addresses.alias_domains: {dom:?} is not a domain hosted here"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic
    use super::*;

    fn parse(text: &str) -> Result<Aliases, Vec<AliasProblem>> {
        Aliases::parse(text, Path::new("/etc/aliases"), &mut |p| match p.to_str() {
            Some("/etc/mail/staff") => Ok("# staff\nalice\nbob, carol@elsewhere.test\n".into()),
            Some("/etc/mail/loop") => Ok(":include:/etc/mail/loop\n".into()),
            _ => Err("No such file or directory".into()),
        })
    }

    #[test]
    fn the_classic_syntax() {
        let a = parse(
            "# comment\n\
             postmaster: root\n\
             root:  alice, \\bob\n\
             Staff: :include:/etc/mail/staff,\n\
             \t  dave\n\
             \n\
             outside: <someone@elsewhere.test>\n",
        )
        .unwrap();
        assert_eq!(a.get("postmaster").unwrap(), ["root"]);
        assert_eq!(a.get("ROOT").unwrap(), ["alice", "bob"]);
        assert_eq!(
            a.get("staff").unwrap(),
            ["alice", "bob", "carol@elsewhere.test", "dave"]
        );
        assert_eq!(a.get("outside").unwrap(), ["someone@elsewhere.test"]);
        assert_eq!(a.len(), 4);
        let d = a.with_defaults("admin@example.test");
        assert_eq!(d.get("abuse").unwrap(), ["admin@example.test"]);
        assert_eq!(d.get("root").unwrap(), ["alice", "bob"]);
    }

    #[test]
    fn problems_name_file_and_line() {
        let e = parse(
            "ok: alice\nno colon here\nbad name: x\nempty:\nok: bob\npipe: |/bin/sh\n\
             inc: :include:/missing\ndeep: :include:/etc/mail/loop\nrel: :include:staff\n\
             addr: a@@b\n",
        )
        .unwrap_err();
        let lines: Vec<usize> = e.iter().map(|p| p.line).collect();
        assert_eq!(lines, [2, 3, 4, 5, 6, 7, 8, 9, 10], "{e:#?}");
        let text: Vec<String> = e.iter().map(ToString::to_string).collect();
        assert!(text[0].starts_with("/etc/aliases:2: "), "{text:?}");
        assert!(text[3].contains("defined twice"), "{text:?}");
        assert!(text[4].contains("not supported"), "{text:?}");
        assert!(text[5].contains("No such file"), "{text:?}");
        assert!(text[6].contains("nests too deep"), "{text:?}");
        assert!(text[7].contains("absolute"), "{text:?}");
    }
}
