//! Map a key path in the TOML text to the line it is on, for error messages.

use toml_edit::{Item, Value};

/// One step of a path into the document: a table key or an array index.
#[derive(Debug, Clone, Copy)]
pub enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}

/// 1-based line number of byte offset `pos` in `text`.
pub fn line_of(text: &str, pos: usize) -> usize {
    text.as_bytes()
        .iter()
        .take(pos.min(text.len()))
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The line of the value at `path` (or of the deepest key or table on the way), if found.
pub fn line_of_path(text: &str, path: &[Seg<'_>]) -> Option<usize> {
    let doc = toml_edit::Document::parse(text).ok()?;
    let mut best = None;
    walk_item(doc.as_item(), path, &mut best);
    best.map(|p| line_of(text, p))
}

fn note(best: &mut Option<usize>, span: Option<std::ops::Range<usize>>) {
    if let Some(s) = span {
        *best = Some(s.start);
    }
}

fn walk_item(item: &Item, path: &[Seg<'_>], best: &mut Option<usize>) {
    note(best, item.span());
    let Some((seg, rest)) = path.split_first() else {
        return;
    };
    match (seg, item) {
        (Seg::Key(k), Item::Table(t)) => {
            note(best, t.key(k).and_then(|key| key.span()));
            if let Some(next) = t.get(k) {
                walk_item(next, rest, best);
            }
        }
        (Seg::Index(i), Item::ArrayOfTables(a)) => {
            if let Some(t) = a.get(*i) {
                note(best, t.span());
                if let Some((Seg::Key(k), rest2)) = rest.split_first() {
                    note(best, t.key(k).and_then(|key| key.span()));
                    if let Some(next) = t.get(k) {
                        walk_item(next, rest2, best);
                    }
                }
            }
        }
        (_, Item::Value(v)) => walk_value(v, path, best),
        _ => {}
    }
}

fn walk_value(value: &Value, path: &[Seg<'_>], best: &mut Option<usize>) {
    note(best, value.span());
    let Some((seg, rest)) = path.split_first() else {
        return;
    };
    match (seg, value) {
        (Seg::Key(k), Value::InlineTable(t)) => {
            note(best, t.key(k).and_then(|key| key.span()));
            if let Some(next) = t.get(k) {
                walk_value(next, rest, best);
            }
        }
        (Seg::Index(i), Value::Array(a)) => {
            if let Some(next) = a.get(*i) {
                walk_value(next, rest, best);
            }
        }
        _ => {}
    }
}
