use std::collections::HashMap;

use super::*;
use crate::dns::LookupError;

/// DNS from a table: listed names answer their addresses, `down.test` fails, others NXDOMAIN.
#[derive(Default)]
struct Lists {
    a: HashMap<String, Vec<IpAddr>>,
    txt: HashMap<String, String>,
}

impl Dns for Lists {
    fn ips(&self, name: &str) -> Result<Vec<IpAddr>, LookupError> {
        if name.ends_with(".down.test") {
            return Err(LookupError::Temporary("SERVFAIL".into()));
        }
        self.a.get(name).cloned().ok_or(LookupError::NotFound)
    }
    fn mx(&self, _: &str) -> Result<Vec<String>, LookupError> {
        Err(LookupError::NotFound)
    }
    fn txt(&self, name: &str) -> Result<Vec<String>, LookupError> {
        self.txt
            .get(name)
            .map(|t| vec![t.clone()])
            .ok_or(LookupError::NotFound)
    }
    fn ptr(&self, _: IpAddr) -> Result<Vec<String>, LookupError> {
        Err(LookupError::NotFound)
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("ip")
}

fn lists() -> Lists {
    let mut d = Lists::default();
    let mut put = |name: &str, a: &str| {
        d.a.entry(name.to_string()).or_default().push(ip(a));
    };
    put("2.0.0.127.bl.test", "127.0.0.2");
    put("2.0.0.127.second.test", "127.0.0.4");
    put("2.0.0.127.hijacked.test", "192.0.2.1");
    put("2.0.0.127.refusing.test", "127.255.255.254");
    put("9.0.0.127.bl.test", "127.0.0.10");
    put("9.0.0.127.wl.test", "127.0.9.1");
    put(
        "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.bl.test",
        "127.0.0.3",
    );
    d.txt.insert(
        "2.0.0.127.bl.test".into(),
        "Listed\r\n for spam: https://bl.test/q?127.0.0.2".into(),
    );
    d
}

fn receiving(toml: &str) -> Receiving {
    let text = format!(
        "[server]\nhostname = \"mx.test\"\npostmaster = \"pm@example.test\"\n\
         [[domain]]\nname = \"example.test\"\n[receiving]\n{toml}"
    );
    crate::config::parse(&text, std::path::Path::new("/"))
        .expect("config")
        .receiving
}

#[test]
fn query_names_reverse_ipv4_octets_and_ipv6_nibbles() {
    assert_eq!(
        query_name(ip("192.0.2.99"), "zen.test"),
        "99.2.0.192.zen.test"
    );
    assert_eq!(
        query_name(ip("2001:db8::1"), "zen.test."),
        "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.zen.test"
    );
}

#[test]
fn which_answers_count_as_listed() {
    let any = DnsList {
        zone: "bl.test".into(),
        weight: 1,
        answers: vec![],
    };
    let only = DnsList {
        answers: vec!["127.0.0.4".parse().expect("ip")],
        ..any.clone()
    };
    let table = [
        (&any, "127.0.0.2", true),
        (&any, "127.1.2.3", true),
        (&any, "127.255.255.254", false), // a list refusing the query
        (&any, "192.0.2.1", false),       // outside 127/8: hijacked or misconfigured
        (&only, "127.0.0.4", true),
        (&only, "127.0.0.2", false),
    ];
    for (list, answer, listed) in table {
        assert_eq!(
            counts(list, answer.parse().expect("ip")),
            listed,
            "{answer}"
        );
    }
}

#[test]
fn dnsbl_scenarios() {
    // (config, client, refused?, text the reply carries)
    let table: &[(&str, &str, Option<&str>)] = &[
        // listed in the one list: refused, naming the list and its (cleaned) reason
        (
            r#"dnsbl = ["bl.test"]"#,
            "127.0.0.2",
            Some("client [127.0.0.2] blocked using bl.test; Listed for spam: https://bl.test/q?127.0.0.2"),
        ),
        // not listed
        (r#"dnsbl = ["bl.test"]"#, "192.0.2.7", None),
        // IPv6 clients are looked up by nibbles
        (r#"dnsbl = ["bl.test"]"#, "2001:db8::1", Some("blocked using bl.test")),
        // weights below the threshold pass; together they reach it
        (
            r#"dnsbl = [{ zone = "bl.test", weight = 1 }]
dnsbl_threshold = 2"#,
            "127.0.0.2",
            None,
        ),
        (
            r#"dnsbl = ["bl.test", "second.test"]
dnsbl_threshold = 2"#,
            "127.0.0.2",
            Some("blocked using bl.test, second.test"),
        ),
        (
            r#"dnsbl = [{ zone = "second.test", weight = 3 }]
dnsbl_threshold = 3"#,
            "127.0.0.2",
            Some("blocked using second.test"),
        ),
        // answers filter: second.test answers 127.0.0.4, only .2 counts
        (
            r#"dnsbl = [{ zone = "second.test", answers = ["127.0.0.2"] }]"#,
            "127.0.0.2",
            None,
        ),
        // an answer outside 127/8 or a refused query is no listing
        (r#"dnsbl = ["hijacked.test", "refusing.test"]"#, "127.0.0.2", None),
        // a list that fails to answer is no listing
        (r#"dnsbl = ["down.test"]"#, "127.0.0.2", None),
        // an allowlist naming the client skips the blocklists
        (
            r#"dnsbl = ["bl.test"]
dnswl = ["wl.test"]"#,
            "127.0.0.9",
            None,
        ),
        (
            r#"dnsbl = ["bl.test"]
dnswl = ["wl.test"]"#,
            "127.0.0.2",
            Some("blocked using bl.test"),
        ),
    ];
    let dns = lists();
    for (toml, client, expect) in table {
        let r = receiving(toml);
        let found = look_up(&dns, ip(client), &r);
        let reply = verdict(ip(client), r.dnsbl_threshold(), &found);
        match (expect, reply) {
            (None, None) => {}
            (Some(text), Some(reply)) => {
                assert_eq!(reply.code, 554, "{toml} {client}");
                let line = String::from_utf8_lossy(&reply.to_bytes()).into_owned();
                assert!(line.starts_with("554 5.7.1 "), "{line}");
                assert!(line.contains(text), "{toml} {client}: {line}");
                assert!(!line.trim_end().contains(['\r', '\n']), "{line:?}");
            }
            (e, r) => panic!("{toml} {client}: expected {e:?}, got {r:?}"),
        }
    }
}

#[test]
fn config_check_names_bad_zones_and_a_zero_threshold() {
    let text = "[server]\nhostname = \"mx.test\"\npostmaster = \"pm@example.test\"\n\
         [[domain]]\nname = \"example.test\"\n[receiving]\n\
         dnsbl = [\"no spaces.test\", \"fine.test\"]\ndnswl = [\"nodot\"]\ndnsbl_threshold = 0\n";
    let problems: Vec<String> = crate::config::parse(text, std::path::Path::new("/"))
        .expect_err("invalid")
        .into_iter()
        .map(|p| p.message)
        .collect();
    let all = problems.join("\n");
    assert!(
        all.contains("\"no spaces.test\" is not a DNS zone name"),
        "{all}"
    );
    assert!(all.contains("receiving.dnswl: \"nodot\""), "{all}");
    assert!(all.contains("dnsbl_threshold must be at least 1"), "{all}");
    assert!(!all.contains("fine.test"), "{all}");
}
