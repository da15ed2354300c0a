//! SPF (`policy::spf::check`) and the spoofed-sender check against a zone the input describes,
//! counting every query: RFC 7208 §4.6.4 allows at most 10 DNS-querying terms (each `mx` or
//! `ptr` term at most 10 further address lookups) and a few void lookups before the result is
//! permerror; whatever the records say, the queries must stay within those bounds.
//!
//! The input is text, one statement a line (unknown lines are ignored):
//!
//! ```text
//! ip 192.0.2.5                  the client (default 192.0.2.5)
//! sender user@example.test      MAIL FROM (default user@example.test; empty: <>)
//! helo mail.example.test        EHLO name (default mail.example.test)
//! txt example.test v=spf1 a -all
//! a mail.example.test 192.0.2.5 an address record (A or AAAA)
//! mx example.test mail.example.test
//! ptr 192.0.2.5 mail.example.test
//! fail broken.test              every query for the name answers SERVFAIL
//! ```

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use postern::dns::{Dns, LookupError};
use postern::receive::policy::spf;

/// RFC 7208 §4.6.4: DNS-querying terms in one evaluation.
const TERMS: usize = 10;
/// Address lookups one `mx` or `ptr` term may make.
const PER_TERM: usize = 10;
/// The first TXT query, then each term with its own lookups.
const MAX_QUERIES: usize = 1 + TERMS * (1 + PER_TERM);

/// A zone, as the input gives it.
#[derive(Default, Debug)]
pub struct Zone {
    pub ips: HashMap<String, Vec<IpAddr>>,
    pub mx: HashMap<String, Vec<String>>,
    pub txt: HashMap<String, Vec<String>>,
    pub ptr: HashMap<IpAddr, Vec<String>>,
    pub fail: Vec<String>,
}

/// How the evaluation used the zone.
#[derive(Default, Debug, Clone, Copy)]
pub struct Counts {
    pub txt: usize,
    pub ips: usize,
    pub mx: usize,
    pub ptr: usize,
    /// MX queries with no answer.
    pub void_mx: usize,
}

impl Counts {
    pub fn total(&self) -> usize {
        self.txt + self.ips + self.mx + self.ptr
    }
}

/// The zone behind the [`Dns`] trait, counting queries.
pub struct CountingDns {
    pub zone: Zone,
    pub counts: Mutex<Counts>,
}

impl CountingDns {
    pub fn new(zone: Zone) -> CountingDns {
        CountingDns {
            zone,
            counts: Mutex::new(Counts::default()),
        }
    }

    fn count(&self, f: impl FnOnce(&mut Counts)) {
        if let Ok(mut c) = self.counts.lock() {
            f(&mut c);
        }
    }

    pub fn counts(&self) -> Counts {
        self.counts.lock().map(|c| *c).unwrap_or_default()
    }

    fn answer<V: Clone>(
        &self,
        name: &str,
        table: &HashMap<String, Vec<V>>,
    ) -> Result<Vec<V>, LookupError> {
        let name = name.to_ascii_lowercase();
        if self.zone.fail.contains(&name) {
            return Err(LookupError::Temporary("SERVFAIL".into()));
        }
        table.get(&name).cloned().ok_or(LookupError::NotFound)
    }
}

impl Dns for CountingDns {
    fn ips(&self, name: &str) -> Result<Vec<IpAddr>, LookupError> {
        self.count(|c| c.ips += 1);
        self.answer(name, &self.zone.ips)
    }
    fn mx(&self, name: &str) -> Result<Vec<String>, LookupError> {
        let r = self.answer(name, &self.zone.mx);
        self.count(|c| {
            c.mx += 1;
            if matches!(&r, Err(LookupError::NotFound)) || r.as_ref().is_ok_and(Vec::is_empty) {
                c.void_mx += 1;
            }
        });
        r
    }
    fn txt(&self, name: &str) -> Result<Vec<String>, LookupError> {
        self.count(|c| c.txt += 1);
        self.answer(name, &self.zone.txt)
    }
    fn ptr(&self, ip: IpAddr) -> Result<Vec<String>, LookupError> {
        self.count(|c| c.ptr += 1);
        self.zone.ptr.get(&ip).cloned().ok_or(LookupError::NotFound)
    }
}

/// The client, sender, HELO name and zone of an input.
pub struct Case {
    pub ip: IpAddr,
    pub sender: String,
    pub helo: String,
    pub zone: Zone,
}

pub fn decode(text: &str) -> Case {
    let mut case = Case {
        ip: IpAddr::from([192, 0, 2, 5]),
        sender: "user@example.test".into(),
        helo: "mail.example.test".into(),
        zone: Zone::default(),
    };
    for line in text.lines() {
        let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
        let (name, value) = rest.split_once(' ').unwrap_or((rest, ""));
        let name = name.to_ascii_lowercase();
        let z = &mut case.zone;
        match word {
            "ip" => case.ip = rest.trim().parse().unwrap_or(case.ip),
            "sender" => case.sender = rest.trim().to_string(),
            "helo" => case.helo = rest.trim().to_string(),
            "txt" => z.txt.entry(name).or_default().push(value.to_string()),
            "a" => {
                if let Ok(ip) = value.trim().parse() {
                    z.ips.entry(name).or_default().push(ip);
                }
            }
            "mx" => z.mx.entry(name).or_default().push(value.trim().to_string()),
            "ptr" => {
                if let Ok(ip) = name.parse() {
                    z.ptr.entry(ip).or_default().push(value.trim().to_string());
                }
            }
            "fail" => z.fail.push(name),
            _ => {}
        }
    }
    case
}

/// The harness: evaluate SPF and the spoofed-sender check, then check the query bounds.
pub fn evaluate(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let case = decode(&text);
    let dns = CountingDns::new(case.zone);
    let result = spf::check(&dns, case.ip, &case.sender, &case.helo);
    let c = dns.counts();
    super::show("spf", format!("{result:?} after {c:?}").as_bytes());
    assert!(
        c.total() <= MAX_QUERIES,
        "SPF made {} queries (at most {MAX_QUERIES}): {c:?}, result {result:?}",
        c.total()
    );
    assert!(c.txt <= 1 + TERMS, "SPF made {} TXT queries: {c:?}", c.txt);
    assert!(c.mx <= TERMS, "SPF made {} MX queries: {c:?}", c.mx);
    assert!(c.ptr <= TERMS, "SPF made {} PTR queries: {c:?}", c.ptr);
    // The third void lookup ends the evaluation (permerror): never a fourth.
    assert!(
        c.void_mx <= 3,
        "SPF went on after {} void MX lookups",
        c.void_mx
    );

    let before = dns.counts().total();
    if let Some((_, domain)) = case.sender.rsplit_once('@') {
        let _ = spf::ip_belongs_to(&dns, case.ip, domain);
    }
    let spent = dns.counts().total() - before;
    // One MX query and an address lookup for each of at most 10 hosts, the domain's own
    // addresses, one PTR query and at most 10 names confirmed.
    assert!(
        spent <= 1 + PER_TERM + 1 + 1 + PER_TERM,
        "spoof check made {spent} queries"
    );
}
