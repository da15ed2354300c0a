use std::collections::HashMap;

use super::*;

/// DNS from tables; names missing are NXDOMAIN, names under `fail.` are SERVFAIL.
#[derive(Default)]
pub struct FakeDns {
    pub ips: HashMap<String, Vec<IpAddr>>,
    pub mx: HashMap<String, Vec<String>>,
    pub txt: HashMap<String, Vec<String>>,
    pub ptr: HashMap<IpAddr, Vec<String>>,
}

fn get<K: std::hash::Hash + Eq, V: Clone>(
    m: &HashMap<K, Vec<V>>,
    k: &K,
) -> Result<Vec<V>, DnsError> {
    m.get(k).cloned().ok_or(DnsError::NotFound)
}

impl Dns for FakeDns {
    fn ips(&self, name: &str) -> Result<Vec<IpAddr>, DnsError> {
        if name.starts_with("fail.") {
            return Err(DnsError::Temporary("SERVFAIL".into()));
        }
        get(&self.ips, &name.to_string())
    }
    fn mx(&self, name: &str) -> Result<Vec<String>, DnsError> {
        get(&self.mx, &name.to_string())
    }
    fn txt(&self, name: &str) -> Result<Vec<String>, DnsError> {
        if name.starts_with("fail.") {
            return Err(DnsError::Temporary("SERVFAIL".into()));
        }
        get(&self.txt, &name.to_string())
    }
    fn ptr(&self, ip: IpAddr) -> Result<Vec<String>, DnsError> {
        get(&self.ptr, &ip)
    }
}

pub fn fake() -> FakeDns {
    let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
    let mut d = FakeDns::default();
    d.mx.insert("hotmail.test".into(), vec!["mx1.hotmail.test".into()]);
    d.ips
        .insert("mx1.hotmail.test".into(), vec![ip("192.0.2.10")]);
    d.ips.insert("hotmail.test".into(), vec![ip("192.0.2.20")]);
    d.ptr
        .insert(ip("192.0.2.30"), vec!["out3.hotmail.test".into()]);
    d.ips
        .insert("out3.hotmail.test".into(), vec![ip("192.0.2.30")]);
    d.ptr
        .insert(ip("192.0.2.31"), vec!["liar.hotmail.test".into()]);
    let txt = |d: &mut FakeDns, n: &str, v: &str| {
        d.txt.insert(n.into(), vec![v.into(), "other text".into()]);
    };
    txt(
        &mut d,
        "hotmail.test",
        "v=spf1 mx a ip4:198.51.100.0/24 include:_spf.partner.test -all",
    );
    txt(&mut d, "_spf.partner.test", "v=spf1 ip6:2001:db8::/32 ~all");
    txt(&mut d, "soft.test", "v=spf1 ~all");
    txt(&mut d, "redir.test", "v=spf1 redirect=hotmail.test");
    txt(
        &mut d,
        "macro.test",
        "v=spf1 exists:%{ir}.%{l}.ok.test -all",
    );
    d.ips
        .insert("10.2.0.192.alice.ok.test".into(), vec![ip("127.0.0.2")]);
    txt(&mut d, "two.test", "v=spf1 -all");
    d.txt
        .get_mut("two.test")
        .expect("two")
        .push("v=spf1 +all".into());
    txt(&mut d, "loop.test", "v=spf1 include:loop.test");
    txt(&mut d, "tempinc.test", "v=spf1 include:fail.test -all");
    d
}

#[test]
fn spf_results() {
    let dns = fake();
    let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
    for (client, sender, want) in [
        ("192.0.2.10", "a@hotmail.test", SpfResult::Pass), // mx
        ("192.0.2.20", "a@hotmail.test", SpfResult::Pass), // a
        ("198.51.100.7", "a@hotmail.test", SpfResult::Pass), // ip4 cidr
        ("2001:db8::5", "a@hotmail.test", SpfResult::Pass), // include → ip6
        ("203.0.113.5", "a@hotmail.test", SpfResult::Fail),
        ("203.0.113.5", "a@soft.test", SpfResult::SoftFail),
        ("203.0.113.5", "a@redir.test", SpfResult::Fail),
        ("192.0.2.10", "a@redir.test", SpfResult::Pass),
        ("192.0.2.10", "alice@macro.test", SpfResult::Pass),
        ("192.0.2.10", "bob@macro.test", SpfResult::Fail),
        ("192.0.2.10", "a@nospf.test", SpfResult::None),
        ("192.0.2.10", "a@two.test", SpfResult::PermError),
        ("192.0.2.10", "a@loop.test", SpfResult::PermError),
        ("192.0.2.10", "a@fail.test", SpfResult::TempError),
        ("192.0.2.10", "a@tempinc.test", SpfResult::TempError),
    ] {
        assert_eq!(
            check(&dns, ip(client), sender, "helo.test"),
            want,
            "{client} {sender}"
        );
    }
    // The null sender is checked as postmaster@HELO.
    assert_eq!(
        check(&dns, ip("203.0.113.5"), "", "soft.test"),
        SpfResult::SoftFail
    );
}

#[test]
fn spoofed_sender_mx_a_and_ptr() {
    let dns = fake();
    let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
    for (client, want) in [
        ("192.0.2.10", Ok(true)),  // an MX host
        ("192.0.2.20", Ok(true)),  // the domain's A record
        ("192.0.2.30", Ok(true)),  // PTR → out3.hotmail.test → A confirms
        ("192.0.2.31", Ok(false)), // PTR claims the domain, A does not confirm
        ("203.0.113.9", Ok(false)),
    ] {
        assert_eq!(
            ip_belongs_to(&dns, ip(client), "hotmail.test"),
            want,
            "{client}"
        );
    }
    assert!(ip_belongs_to(&dns, ip("192.0.2.10"), "fail.test").is_err());
}
