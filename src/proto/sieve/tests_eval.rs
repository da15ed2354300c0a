//! Evaluating tests: address, envelope, header, exists, size, body, date, currentdate,
//! string, hasflag, spamtest, duplicate, mailboxexists, and the boolean combinators.

use super::ast::{AddrPart, BodyTransform, DupId, Index, Test, Zone};
use super::compare::{MatchKind, Matcher};
use super::eval::{normalize_flags, Frame, State};
use super::message::{self, Field};
use super::strings::Template;
use super::RuntimeError;
use crate::proto::imap::mailbox_name::MailboxName;

impl State<'_, '_> {
    pub(super) fn test(&mut self, t: &Test, frame: &mut Frame) -> Result<bool, RuntimeError> {
        self.step()?;
        Ok(match t {
            Test::True => true,
            Test::False => false,
            Test::Not(inner) => !self.test(inner, frame)?,
            Test::AllOf(ts) => {
                for x in ts {
                    if !self.test(x, frame)? {
                        return Ok(false);
                    }
                }
                true
            }
            Test::AnyOf(ts) => {
                for x in ts {
                    if self.test(x, frame)? {
                        return Ok(true);
                    }
                }
                false
            }
            Test::Address {
                m,
                part,
                index,
                headers,
                keys,
            } => {
                let names = self.expand_all(frame, headers);
                let sep = self.input.subaddress_separator;
                let mut values = Vec::new();
                for name in &names {
                    for i in self.field_indices(name, *index) {
                        for a in self.field_addresses(i) {
                            if let Some(v) = addr_part(a, *part, sep) {
                                values.push(v);
                            }
                        }
                    }
                }
                self.match_values(frame, m, &values, keys)
            }
            Test::Envelope {
                m,
                part,
                parts,
                keys,
            } => {
                let names = self.expand_all(frame, parts);
                let env = self.input.envelope;
                let sep = self.input.subaddress_separator;
                let mut values = Vec::new();
                for n in &names {
                    let addr = match n.to_ascii_lowercase().as_str() {
                        "from" => Some(env.from.clone()),
                        "to" => Some(env.to.clone()),
                        "orig_to" => Some(env.orig_to.clone().unwrap_or_else(|| env.to.clone())),
                        "auth" => env.auth.clone(),
                        _ => None,
                    };
                    if let Some(a) = addr {
                        if a.is_empty() {
                            // The null reverse-path: only :all sees it, as "".
                            if *part == AddrPart::All {
                                values.push(String::new());
                            }
                        } else if let Some(v) = addr_part(&a, *part, sep) {
                            values.push(v);
                        }
                    }
                }
                self.match_values(frame, m, &values, keys)
            }
            Test::Header {
                m,
                index,
                headers,
                keys,
            } => {
                let mut values: Vec<&str> = Vec::new();
                for name in headers {
                    let name = self.expand(frame, name);
                    values.extend(self.fields(&name, *index).iter().map(|f| f.value()));
                }
                let (hit, caps) = self.match_strs(frame, m, &values, keys);
                if let Some(c) = caps {
                    self.matches = c;
                }
                hit
            }
            Test::Exists(names) => {
                let names = self.expand_all(frame, names);
                names.iter().all(|n| !self.fields(n, None).is_empty())
            }
            Test::Size { over, limit } => {
                let size = u64::try_from(self.input.message.len()).unwrap_or(u64::MAX);
                if *over {
                    size > *limit
                } else {
                    size < *limit
                }
            }
            Test::Body {
                m,
                transform,
                content_types,
                keys,
            } => {
                let values = match transform {
                    BodyTransform::Raw => {
                        vec![String::from_utf8_lossy(self.msg.body).into_owned()]
                    }
                    BodyTransform::Text => {
                        if self.text_parts.is_none() {
                            self.text_parts = Some(message::body_parts(self.input.message, None));
                        }
                        self.text_parts.clone().unwrap_or_default()
                    }
                    BodyTransform::Content => {
                        let types = self.expand_all(frame, content_types);
                        message::body_parts(self.input.message, Some(&types))
                    }
                };
                self.match_values(frame, m, &values, keys)
            }
            Test::Date {
                m,
                zone,
                index,
                header,
                part,
                keys,
            } => {
                let name = self.expand(frame, header).to_ascii_lowercase();
                let part = self.expand(frame, part).into_owned();
                let mut values = Vec::new();
                // Without :index the first field is the date (as Pigeonhole reads RFC 5260).
                let index = index.or(Some(Index { n: 1, last: false }));
                for f in self.fields(&name, index) {
                    let text = if name == "received" {
                        f.value_raw.rsplit(';').next().unwrap_or_default()
                    } else {
                        f.value_raw.as_str()
                    };
                    if let Some(dt) = message::parse_date(text) {
                        let offset = match zone {
                            Zone::Local => self.input.now.1,
                            Zone::Fixed(z) => *z,
                            Zone::Original => dt.offset,
                        };
                        if let Some(v) = message::date_part(dt.unix, offset, &part) {
                            values.push(v);
                        }
                    }
                }
                self.match_values(frame, m, &values, keys)
            }
            Test::CurrentDate {
                m,
                zone,
                part,
                keys,
            } => {
                let part = self.expand(frame, part).into_owned();
                let (now, local) = self.input.now;
                let offset = match zone {
                    Zone::Fixed(z) => *z,
                    _ => local,
                };
                let values: Vec<String> =
                    message::date_part(now, offset, &part).into_iter().collect();
                self.match_values(frame, m, &values, keys)
            }
            Test::String { m, sources, keys } => {
                let mut values = self.expand_all(frame, sources);
                if matches!(m.kind, MatchKind::Count(_)) {
                    values.retain(|v| !v.is_empty());
                }
                self.match_values(frame, m, &values, keys)
            }
            Test::HasFlag { m, vars, keys } => {
                let values = match vars {
                    None => self.flags.clone(),
                    Some(vs) => {
                        let names = self.expand_all(frame, vs);
                        let mut texts = Vec::new();
                        for n in &names {
                            texts.push(self.var(frame, &n.to_ascii_lowercase()).to_string());
                        }
                        normalize_flags(texts.iter().map(String::as_str))
                    }
                };
                self.match_values(frame, m, &values, keys)
            }
            Test::Spam { m, percent, key } => {
                let value = match self.input.spam_score {
                    None => "0".to_string(),
                    Some(s) if *percent => s.percent.min(100).to_string(),
                    Some(s) => s.value.min(10).to_string(),
                };
                self.match_values(frame, m, &[value], std::slice::from_ref(key))
            }
            Test::Duplicate {
                handle,
                id,
                seconds,
                last,
            } => {
                let id = match id {
                    DupId::MessageId => self
                        .fields("message-id", None)
                        .first()
                        .map(|f| f.value_raw.clone()),
                    DupId::Header(h) => {
                        let name = self.expand(frame, h).to_ascii_lowercase();
                        self.fields(&name, None)
                            .first()
                            .map(|f| f.value().to_string())
                    }
                    DupId::UniqueId(u) => Some(self.expand(frame, u).into_owned()),
                };
                let handle = handle
                    .as_ref()
                    .map(|h| self.expand(frame, h).into_owned())
                    .unwrap_or_default();
                match id {
                    Some(id) if !id.is_empty() => {
                        self.env
                            .duplicate(&id, &handle, seconds.unwrap_or(12 * 3600), *last)
                    }
                    _ => false,
                }
            }
            Test::MailboxExists(names) => {
                let names = self.expand_all(frame, names);
                // Only valid names reach the environment (and the file system behind it).
                names
                    .iter()
                    .all(|n| MailboxName::from_unicode(n).is_ok() && self.env.mailbox_exists(n))
            }
        })
    }

    /// The fields named `name` (case-insensitive), or the one `index` picks.
    fn fields(&self, name: &str, index: Option<Index>) -> Vec<&Field> {
        self.field_indices(name, index)
            .into_iter()
            .filter_map(|i| self.msg.fields.get(i))
            .collect()
    }

    /// Positions of the fields `fields` yields.
    fn field_indices(&self, name: &str, index: Option<Index>) -> Vec<usize> {
        let all = self
            .msg
            .fields
            .iter()
            .enumerate()
            .filter(|(_, f)| f.lname.eq_ignore_ascii_case(name))
            .map(|(i, _)| i);
        match index {
            None => all.collect(),
            Some(ix) => {
                let list: Vec<usize> = all.collect();
                let n = usize::try_from(ix.n).unwrap_or(usize::MAX);
                let pick = if ix.last {
                    list.len().checked_sub(n).and_then(|i| list.get(i))
                } else {
                    n.checked_sub(1).and_then(|i| list.get(i))
                };
                pick.copied().into_iter().collect()
            }
        }
    }

    /// The addresses in field `i`, parsed once per run (until the header is edited).
    fn field_addresses(&mut self, i: usize) -> &[String] {
        if self.addresses.len() != self.msg.fields.len() {
            self.addresses = vec![None; self.msg.fields.len()];
        }
        let value = self
            .msg
            .fields
            .get(i)
            .map(|f| f.value_raw.as_str())
            .unwrap_or_default();
        match self.addresses.get_mut(i) {
            Some(slot) => slot.get_or_insert_with(|| message::addresses(value)),
            None => &[],
        }
    }

    /// Whether any value matches any key; `:count` compares the number of values. A
    /// successful `:matches` sets the match variables (RFC 5229 §3.2).
    fn match_values(
        &mut self,
        frame: &Frame,
        m: &Matcher,
        values: &[String],
        keys: &[Template],
    ) -> bool {
        let (hit, caps) = self.match_strs(frame, m, values, keys);
        if let Some(c) = caps {
            self.matches = c;
        }
        hit
    }

    /// `match_values` without touching the state: the match variables to set come back.
    fn match_strs<S: AsRef<str>>(
        &self,
        frame: &Frame,
        m: &Matcher,
        values: &[S],
        keys: &[Template],
    ) -> (bool, Option<Vec<String>>) {
        if let MatchKind::Count(_) = m.kind {
            let n = values.len().to_string();
            let hit = keys
                .iter()
                .any(|k| m.matches(&n, &self.expand(frame, k), None));
            return (hit, None);
        }
        let capture = frame.variables && m.kind == MatchKind::Matches;
        let mut caps = Vec::new();
        for k in keys {
            let key = self.expand(frame, k);
            let mut fuel = self.fuel.get();
            for v in values {
                if fuel == 0 {
                    break;
                }
                let caps_arg = if capture { Some(&mut caps) } else { None };
                if m.matches_with(v.as_ref(), &key, caps_arg, &mut fuel) {
                    self.fuel.set(fuel);
                    return (true, capture.then_some(caps));
                }
            }
            self.fuel.set(fuel);
        }
        (false, None)
    }
}

/// The part of `addr` an address test looks at; `None` when it has none (no domain, no detail).
fn addr_part(addr: &str, part: AddrPart, sep: char) -> Option<String> {
    let (local, domain) = message::split_address(addr);
    if part != AddrPart::All && domain.is_none() {
        // Not an addr-spec: only :all tests it (RFC 5228 §2.7.4).
        return None;
    }
    match part {
        AddrPart::All => Some(addr.to_string()),
        AddrPart::Local => Some(local.to_string()),
        AddrPart::Domain => domain.map(str::to_string),
        AddrPart::User => Some(local.split_once(sep).map_or(local, |(u, _)| u).to_string()),
        AddrPart::Detail => local.split_once(sep).map(|(_, d)| d.to_string()),
    }
}
