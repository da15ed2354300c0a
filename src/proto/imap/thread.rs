//! THREAD (RFC 5256 §4–5): ORDEREDSUBJECT and REFERENCES over the [`SortFields`] of the
//! messages a search selected, and the `* THREAD` rendering of the result.

use std::collections::HashMap;

use super::sort::SortFields;

/// A threading algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// `ORDEREDSUBJECT`: by base subject, then sent date.
    OrderedSubject,
    /// `REFERENCES`: by the References / In-Reply-To links, then base subject.
    References,
}

impl Algorithm {
    /// The algorithm named `word` (upper case), if any.
    pub fn parse(word: &str) -> Option<Algorithm> {
        match word {
            "ORDEREDSUBJECT" => Some(Algorithm::OrderedSubject),
            "REFERENCES" => Some(Algorithm::References),
            _ => None,
        }
    }
}

/// One node of a thread: a message (an index into the messages), or a dummy holding children.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// The message, `None` for a dummy.
    pub message: Option<usize>,
    /// Its children, in order.
    pub children: Vec<Node>,
}

/// Threads the messages; the roots in order.
pub fn thread(messages: &[SortFields], algorithm: Algorithm) -> Vec<Node> {
    match algorithm {
        Algorithm::OrderedSubject => ordered_subject(messages),
        Algorithm::References => references(messages),
    }
}

/// The sent-date order of messages (§2.2: ties by sequence number).
fn date_key(messages: &[SortFields], i: usize) -> (i64, u32) {
    messages.get(i).map_or((0, 0), |m| (m.date, m.seq))
}

fn ordered_subject(messages: &[SortFields]) -> Vec<Node> {
    let mut order: Vec<usize> = (0..messages.len()).collect();
    let subject = |i: usize| messages.get(i).map_or("", |m| m.subject.as_str());
    order.sort_by(|&a, &b| {
        subject(a)
            .cmp(subject(b))
            .then(date_key(messages, a).cmp(&date_key(messages, b)))
    });
    let mut roots: Vec<Node> = Vec::new();
    let mut last_subject: Option<&str> = None;
    for i in order {
        let leaf = Node {
            message: Some(i),
            children: Vec::new(),
        };
        match roots.last_mut() {
            Some(root) if last_subject == Some(subject(i)) => root.children.push(leaf),
            _ => roots.push(leaf),
        }
        last_subject = Some(subject(i));
    }
    let first = |n: &Node| n.message.map_or((0, 0), |i| date_key(messages, i));
    roots.sort_by_key(|n| first(n));
    roots
}

/// A container of the REFERENCES algorithm (§5 steps 1–3).
#[derive(Debug, Default, Clone)]
struct Container {
    message: Option<usize>,
    parent: Option<usize>,
    children: Vec<usize>,
}

struct Table {
    containers: Vec<Container>,
    by_id: HashMap<String, usize>,
}

impl Table {
    fn get(&mut self, id: &str) -> usize {
        if let Some(&c) = self.by_id.get(id) {
            return c;
        }
        self.containers.push(Container::default());
        let c = self.containers.len() - 1;
        self.by_id.insert(id.to_string(), c);
        c
    }

    /// Whether `a` is `b` or one of its ancestors.
    fn is_ancestor(&self, a: usize, b: usize) -> bool {
        let mut at = Some(b);
        let mut steps = 0;
        while let Some(c) = at {
            if c == a {
                return true;
            }
            steps += 1;
            if steps > self.containers.len() {
                return true; // a cycle: treat as linked
            }
            at = self.containers.get(c).and_then(|c| c.parent);
        }
        false
    }

    fn unlink(&mut self, child: usize) {
        if let Some(p) = self.containers.get(child).and_then(|c| c.parent) {
            if let Some(pc) = self.containers.get_mut(p) {
                pc.children.retain(|&c| c != child);
            }
        }
        if let Some(c) = self.containers.get_mut(child) {
            c.parent = None;
        }
    }

    fn link(&mut self, parent: usize, child: usize) {
        if self.is_ancestor(child, parent) {
            return;
        }
        self.unlink(child);
        if let Some(c) = self.containers.get_mut(child) {
            c.parent = Some(parent);
        }
        if let Some(p) = self.containers.get_mut(parent) {
            p.children.push(child);
        }
    }

    /// The tree below container `c`.
    fn tree(&self, c: usize, depth: usize) -> Node {
        let container = self.containers.get(c);
        Node {
            message: container.and_then(|c| c.message),
            children: if depth > MAX_DEPTH {
                Vec::new()
            } else {
                container
                    .map(|c| c.children.clone())
                    .unwrap_or_default()
                    .into_iter()
                    .map(|ch| self.tree(ch, depth + 1))
                    .collect()
            },
        }
    }
}

/// Deepest thread kept (deeper replies are cut off: nothing a client shows goes that deep).
const MAX_DEPTH: usize = 1000;

fn references(messages: &[SortFields]) -> Vec<Node> {
    let mut t = Table {
        containers: Vec::new(),
        by_id: HashMap::new(),
    };
    // (1) Containers for every message and every id it refers to, linked in reference order.
    for (i, m) in messages.iter().enumerate() {
        let own = match &m.message_id {
            Some(id)
                if t.by_id
                    .get(id)
                    .and_then(|&c| t.containers.get(c))
                    .is_none_or(|c| c.message.is_none()) =>
            {
                t.get(id)
            }
            // No id, or a duplicate: a container of its own.
            _ => t.get(&format!("\u{0}postern-{i}")),
        };
        if let Some(c) = t.containers.get_mut(own) {
            c.message = Some(i);
        }
        let refs: Vec<usize> = m.references.iter().map(|r| t.get(r)).collect();
        for pair in refs.windows(2) {
            if let [a, b] = pair {
                let has_parent = t.containers.get(*b).is_some_and(|c| c.parent.is_some());
                if !has_parent && a != b {
                    t.link(*a, *b);
                }
            }
        }
        // (1B) The message's parent is its last reference (replacing another).
        match refs.last() {
            Some(&last) if last != own => t.link(last, own),
            _ => t.unlink(own),
        }
    }
    // (2) The root set.
    let roots: Vec<usize> = (0..t.containers.len())
        .filter(|&c| t.containers.get(c).is_some_and(|c| c.parent.is_none()))
        .collect();
    let mut nodes: Vec<Node> = roots.into_iter().map(|c| t.tree(c, 0)).collect();
    // (4) Prune dummies.
    nodes = prune(nodes, true);
    // (5) Merge roots by base subject.
    nodes = merge_by_subject(messages, nodes);
    // (6) Sort every level by sent date.
    sort_nodes(messages, &mut nodes);
    nodes
}

/// §5 step 4: dummies without children go; a dummy's children take its place, except at the
/// root level where a dummy with more than one child stays.
fn prune(nodes: Vec<Node>, root: bool) -> Vec<Node> {
    let mut out = Vec::new();
    for mut n in nodes {
        n.children = prune(std::mem::take(&mut n.children), false);
        if n.message.is_some() || (root && n.children.len() > 1) {
            out.push(n);
        } else {
            out.extend(n.children);
        }
    }
    out
}

/// The message that stands for a node: its own, or (a dummy) its first child's.
fn representative(messages: &[SortFields], n: &Node) -> Option<usize> {
    n.message.or_else(|| {
        n.children
            .iter()
            .filter_map(|c| representative(messages, c))
            .min_by_key(|&i| date_key(messages, i))
    })
}

/// §5 step 5: roots with the same base subject are gathered.
fn merge_by_subject(messages: &[SortFields], nodes: Vec<Node>) -> Vec<Node> {
    let subject_of = |n: &Node| {
        let i = if n.message.is_some() {
            n.message
        } else {
            n.children.first().and_then(|c| c.message)
        };
        i.and_then(|i| messages.get(i))
            .map(|m| (m.subject.clone(), m.reply))
    };
    // (5B/C) The table: prefer a dummy, then a non-reply.
    let mut table: HashMap<String, usize> = HashMap::new();
    for (k, n) in nodes.iter().enumerate() {
        let Some((subject, reply)) = subject_of(n) else {
            continue;
        };
        if subject.is_empty() {
            continue;
        }
        match table.get(&subject).and_then(|&j| nodes.get(j)) {
            None => {
                table.insert(subject, k);
            }
            Some(old) => {
                let old_reply = subject_of(old).is_some_and(|(_, r)| r);
                let better = (n.message.is_none() && old.message.is_some())
                    || (old.message.is_some() && old_reply && !reply);
                if better {
                    table.insert(subject, k);
                }
            }
        }
    }
    // (5D/E) Merge every other root into its subject's entry.
    let mut slots: Vec<Option<Node>> = nodes.into_iter().map(Some).collect();
    for k in 0..slots.len() {
        let Some((subject, reply)) = slots.get(k).and_then(|n| n.as_ref()).and_then(subject_of)
        else {
            continue;
        };
        let Some(&target) = table.get(&subject) else {
            continue;
        };
        if target == k {
            continue;
        }
        let Some(this) = slots.get_mut(k).and_then(Option::take) else {
            continue;
        };
        let Some(Some(that)) = slots.get_mut(target) else {
            if let Some(slot) = slots.get_mut(k) {
                *slot = Some(this);
            }
            continue;
        };
        let that_reply = that.message.is_some()
            && that
                .message
                .and_then(|i| messages.get(i))
                .is_some_and(|m| m.reply);
        if that.message.is_none() && this.message.is_none() {
            that.children.extend(this.children);
        } else if that.message.is_none() || (this.message.is_some() && reply && !that_reply) {
            // Under the dummy, or a reply under the message it replies to.
            that.children.push(this);
        } else {
            let old = std::mem::replace(
                that,
                Node {
                    message: None,
                    children: Vec::new(),
                },
            );
            that.children = vec![old, this];
        }
    }
    slots.into_iter().flatten().collect()
}

/// §5 step 6 (and ORDEREDSUBJECT's order): every level by the sent date of its representative.
fn sort_nodes(messages: &[SortFields], nodes: &mut [Node]) {
    for n in nodes.iter_mut() {
        sort_nodes(messages, &mut n.children);
    }
    nodes.sort_by_key(|n| representative(messages, n).map(|i| date_key(messages, i)));
}

/// Renders `* THREAD …` CRLF, each message by its `number`.
pub fn render(messages: &[SortFields], roots: &[Node]) -> Vec<u8> {
    let mut out = b"* THREAD".to_vec();
    if !roots.is_empty() {
        out.push(b' ');
    }
    for r in roots {
        out.push(b'(');
        write_node(messages, r, &mut out, 0);
        out.push(b')');
    }
    out.extend_from_slice(b"\r\n");
    out
}

fn write_node(messages: &[SortFields], n: &Node, out: &mut Vec<u8>, depth: usize) {
    let numbered = match n.message.and_then(|i| messages.get(i)) {
        Some(m) => {
            out.extend_from_slice(m.number.to_string().as_bytes());
            true
        }
        None => false,
    };
    if depth > MAX_DEPTH {
        return;
    }
    match n.children.as_slice() {
        [] => {}
        [only] if numbered => {
            out.push(b' ');
            write_node(messages, only, out, depth + 1);
        }
        children => {
            if numbered {
                out.push(b' ');
            }
            for c in children {
                out.push(b'(');
                write_node(messages, c, out, depth + 1);
                out.push(b')');
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(seq: u32, date: i64, subject: &str, id: &str, refs: &[&str]) -> SortFields {
        let (subject, reply) = super::super::sort::base_subject(subject);
        SortFields {
            seq,
            number: seq,
            date,
            subject: subject.to_ascii_uppercase(),
            reply,
            message_id: (!id.is_empty()).then(|| id.to_string()),
            references: refs.iter().map(|r| r.to_string()).collect(),
            ..SortFields::default()
        }
    }

    fn run(messages: &[SortFields], a: Algorithm) -> String {
        String::from_utf8(render(messages, &thread(messages, a))).unwrap()
    }

    #[test]
    fn ordered_subject_groups_by_base_subject_then_date() {
        let m = vec![
            msg(1, 10, "Hello", "", &[]),
            msg(2, 5, "Other", "", &[]),
            msg(3, 20, "Re: Hello", "", &[]),
            msg(4, 30, "Re: hello", "", &[]),
            msg(5, 6, "Re: Other", "", &[]),
            msg(6, 1, "Alone", "", &[]),
        ];
        assert_eq!(
            run(&m, Algorithm::OrderedSubject),
            "* THREAD (6)(2 5)(1 (3)(4))\r\n"
        );
        assert_eq!(run(&[], Algorithm::OrderedSubject), "* THREAD\r\n");
    }

    #[test]
    fn references_follow_the_links_then_subjects() {
        let m = vec![
            msg(1, 10, "Root", "a@x", &[]),
            msg(2, 20, "Re: Root", "b@x", &["a@x"]),
            msg(3, 30, "Re: Root", "c@x", &["a@x", "b@x"]),
            msg(4, 25, "Re: Root", "d@x", &["a@x"]),
            // A reply whose parent is missing, and another one to the same missing parent.
            msg(5, 40, "Lost", "e@x", &["gone@x"]),
            msg(6, 50, "Re: Lost", "f@x", &["gone@x"]),
            // Same base subject, no links: merged under the first.
            msg(7, 60, "Topic", "g@x", &[]),
            msg(8, 70, "Re: Topic", "h@x", &[]),
            // A loop in References is ignored.
            msg(9, 80, "Loop", "i@x", &["i@x"]),
        ];
        assert_eq!(
            run(&m, Algorithm::References),
            "* THREAD (1 (2 3)(4))((5)(6))(7 8)(9)\r\n"
        );
    }

    #[test]
    fn duplicate_ids_and_missing_ids_keep_every_message() {
        let m = vec![
            msg(1, 1, "A", "same@x", &[]),
            msg(2, 2, "B", "same@x", &[]),
            msg(3, 3, "C", "", &[]),
        ];
        assert_eq!(run(&m, Algorithm::References), "* THREAD (1)(2)(3)\r\n");
    }
}
