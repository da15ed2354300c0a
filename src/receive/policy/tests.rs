//! Table-driven policy tests named after the seed's scenarios and settings.

use std::collections::HashMap;
use std::path::Path;

use super::spf::tests::fake;
use super::*;

fn config(extra: &str) -> Config {
    let text = format!(
        "[server]\nhostname = \"mail.example.test\"\npostmaster = \"pm@example.test\"\n\
         [trust]\nnetworks = [\"10.0.0.0/8\"]\n[[domain]]\nname = \"example.test\"\n{extra}"
    );
    crate::config::parse(&text, Path::new("/")).expect("config")
}

fn users() -> Users {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("u.toml");
    std::fs::write(
        &path,
        "[[user]]\nname = \"bob\"\npassword = \"x\"\n[[user]]\nname = \"full\"\npassword = \"x\"\nquota = 100\n",
    )
    .expect("write");
    Users::load(&path).expect("users")
}

struct Usage(HashMap<&'static str, u64>);
impl MailboxUsage for Usage {
    fn bytes(&self, user: &str) -> Option<u64> {
        self.0.get(user).copied()
    }
}

fn client(trusted: bool, ip: &str) -> Client {
    Client {
        trusted,
        ip: ip.parse().ok(),
        helo: Some("client.test".into()),
        ..Client::default()
    }
}

/// The enhanced code as the `&'static str` the expectations are written in (leaked: tests only).
fn enhanced(s: Option<crate::proto::mail::Status>) -> &'static str {
    s.map_or("", |s| Box::leak(s.to_string().into_boxed_str()))
}

fn code<T>(r: Result<T, Reply>) -> Option<(u16, &'static str)> {
    r.err().map(|r| (r.code, enhanced(r.enhanced)))
}

/// A transaction from `sender` so far (MAIL given, no recipients yet).
fn from(sender: &str) -> Transaction {
    Transaction {
        sender: sender.into(),
        ..Transaction::default()
    }
}

fn sized(sender: &str, size: u64) -> Transaction {
    Transaction {
        params: MailParams {
            size: Some(size),
            ..MailParams::default()
        },
        ..from(sender)
    }
}

fn no_params() -> MailParams {
    MailParams::default()
}

/// The policy as the connection driver uses it: what a check asks to look up is found with these
/// stand-ins (none given: not looked up), then the check decides.
struct Driven<'a> {
    config: &'a Config,
    users: &'a Users,
    dns: Option<&'a dyn crate::dns::Dns>,
    usage: Option<&'a dyn MailboxUsage>,
    space: Option<&'a dyn SpoolSpace>,
}

fn driven<'a>(config: &'a Config, users: &'a Users) -> Driven<'a> {
    Driven {
        config,
        users,
        dns: None,
        usage: None,
        space: None,
    }
}

/// Stand-in for a provider that was not given (never asked: the policy does not ask then).
struct Nothing;
impl crate::dns::Dns for Nothing {
    fn ips(&self, _: &str) -> Result<Vec<IpAddr>, DnsError> {
        Err(DnsError::NotFound)
    }
    fn mx(&self, _: &str) -> Result<Vec<String>, DnsError> {
        Err(DnsError::NotFound)
    }
    fn txt(&self, _: &str) -> Result<Vec<String>, DnsError> {
        Err(DnsError::NotFound)
    }
    fn ptr(&self, _: IpAddr) -> Result<Vec<String>, DnsError> {
        Err(DnsError::NotFound)
    }
}
impl MailboxUsage for Nothing {
    fn bytes(&self, _: &str) -> Option<u64> {
        None
    }
}
impl SpoolSpace for Nothing {
    fn available(&self) -> Option<u64> {
        None
    }
}

impl Driven<'_> {
    fn policy(&self) -> SmtpPolicy<'_> {
        SmtpPolicy {
            dns: self.dns.is_some(),
            quotas: self.usage.is_some(),
            spool_space: self.space.is_some(),
            host_state: self.dns.is_some(),
            ..SmtpPolicy::new(self.config, self.users)
        }
    }

    fn find(&self, lookups: &Lookups) -> Found {
        lookups::find(
            lookups,
            &self.config.receiving,
            self.dns.unwrap_or(&Nothing),
            self.usage.unwrap_or(&Nothing),
            self.space.unwrap_or(&Nothing),
            &crate::store::greylist::Greylist::new(&self.config.paths.spool),
            &crate::store::rates::Rates::new(&self.config.paths.spool),
        )
    }

    fn check_sender(&self, cl: &Client, sender: &str, params: &MailParams) -> Result<(), Reply> {
        let p = self.policy();
        let found = self.find(&p.sender_lookups(cl, sender));
        p.check_sender(cl, sender, params, &found)
    }

    fn check_recipient(&self, cl: &Client, txn: &Transaction, rcpt: &str) -> Result<(), Reply> {
        let p = self.policy();
        let found = self.find(&p.recipient_lookups(cl, txn, rcpt));
        p.check_recipient(cl, txn, rcpt, &found)
    }
}

#[test]
fn relay_and_local_recipients() {
    let (c, u) = (config(""), users());
    let p = driven(&c, &u);
    let lan: IpAddr = "10.1.2.3".parse().expect("ip");
    assert!(trusted_client(&c, None, Some(lan)));
    assert!(!trusted_client(&c, None, "192.0.2.9".parse().ok()));
    let (out, lan) = (client(false, "192.0.2.9"), client(true, "10.1.2.3"));
    for (cl, rcpt, want) in [
        (&out, "bob@example.test", None),
        (&out, "nobody@example.test", Some((550, "5.1.1"))),
        (&out, "x@elsewhere.test", Some((554, "5.7.1"))),
        (&lan, "x@elsewhere.test", None),
        (&lan, "nobody@example.test", Some((550, "5.1.1"))),
    ] {
        assert_eq!(
            code(p.check_recipient(cl, &from("a@b.test"), rcpt)),
            want,
            "{rcpt}"
        );
    }
}

/// The demo's own config and a users file with its user: the setup of the end-to-end battery.
fn demo() -> (Config, Users) {
    let c = crate::config::parse(&crate::cli::demo::config_text(0), Path::new("/demo"))
        .expect("demo config");
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("u.toml");
    std::fs::write(&path, "[[user]]\nname = \"demo\"\npassword = \"x\"\n").expect("write");
    (c, Users::load(&path).expect("users"))
}

/// The reply to `RCPT TO:<rcpt>` in a session of the state machine with this policy.
fn rcpt_reply(p: &SmtpPolicy<'_>, client: &Client, rcpt: &str) -> String {
    let cfg = crate::proto::smtp::SessionConfig {
        hostname: "mail.example.test".into(),
        max_size: 1 << 20,
        max_recipients: 100,
        line_limit: 1000,
        max_errors: 10,
        starttls: false,
        submission: false,
        auth: crate::proto::sasl::MethodPolicy::NONE,
        failures: crate::proto::sasl::AuthFailures::default(),
    };
    let mut s = crate::proto::smtp::Session::new(cfg, client.clone());
    s.receive(format!("EHLO mta.test\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<{rcpt}>\r\n").as_bytes());
    let mut out = Vec::new();
    for _ in 0..10 {
        let step = s.step(p);
        out.extend(step.output);
        if !matches!(step.action, crate::proto::smtp::Action::NeedInput) {
            break;
        }
        if s.at_rest() {
            break;
        }
    }
    let text = String::from_utf8_lossy(&out).into_owned();
    text.lines().last().unwrap_or("").to_string()
}

#[test]
fn open_relay_battery_from_an_untrusted_client() {
    let (c, u) = demo();
    let p = SmtpPolicy {
        listener: Some("smtp"),
        ..SmtpPolicy::new(&c, &u)
    };
    let out = Client {
        helo: Some("mta.test".into()),
        ..client(false, "127.0.0.1")
    };
    let battery = include_str!("../../../tests/data/relay-battery.txt");
    let mut cases = 0;
    for line in battery
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let mut f = line.split('\t');
        let (Some(rcpt), Some(want)) = (f.next(), f.next()) else {
            panic!("bad battery line {line:?}");
        };
        let got = rcpt_reply(&p, &out, rcpt);
        assert!(
            got.starts_with(&format!("{want} ")),
            "RCPT TO:<{rcpt}>: {got}"
        );
        cases += 1;
    }
    assert!(cases >= 40, "{cases} cases");
}

#[test]
fn scenario_4_lan_only_domain_rejects_outside_recipients() {
    let c = config(
        "[[receiving.ban]]\nfield = \"recipient\"\nop = \"ends-with\"\nvalue = \"@example.test\"\nnegate = true\n\
         reply = \"550 5.7.1 Only example.test recipients are accepted\"\n",
    );
    let u = users();
    let p = driven(&c, &u);
    let lan = client(true, "10.1.2.3");
    assert_eq!(
        code(p.check_recipient(&lan, &from("bob@example.test"), "bob@example.test")),
        None
    );
    let refused = p
        .check_recipient(&lan, &from("bob@example.test"), "fred@hotmail.test")
        .expect_err("outside recipient refused");
    assert_eq!(
        refused.to_bytes(),
        b"550 5.7.1 Only example.test recipients are accepted\r\n".to_vec()
    );
}

#[test]
fn receiving_rules_at_mail() {
    let c = config(
        "[receiving.untrusted]\nblock_numeric_sender_domains = true\nblock_empty_return_path = true\n\
         [[receiving.ban]]\nfield = \"helo\"\nop = \"matches\"\nvalue = \"^client\\\\.\"\n\
         listeners = []\n[[receiving.ban]]\nfield = \"client-ip\"\nop = \"starts-with\"\nvalue = \"198.51.100.\"\n",
    );
    let u = users();
    let p = driven(&c, &u);
    let out = client(false, "192.0.2.9");
    let lan = Client {
        helo: Some("mta.test".into()),
        ..client(true, "10.1.2.3")
    };
    let plain_out = Client {
        helo: Some("mta.test".into()),
        ..out.clone()
    };
    for (cl, sender, want) in [
        (&plain_out, "a@[192.0.2.1]", Some((553, "5.1.8"))),
        (&plain_out, "", Some((550, "5.7.1"))),
        (&plain_out, "a@b.test", None),
        (&lan, "", None), // trusted senders are not held to untrusted rules…
        (&lan, "a@[192.0.2.1]", None),
        (&out, "a@b.test", Some((550, "5.7.1"))), // …but bans apply to all: HELO "client.test"
    ] {
        assert_eq!(
            code(p.check_sender(cl, sender, &no_params())),
            want,
            "{sender:?}"
        );
    }
    let banned_ip = Client {
        helo: Some("mta.test".into()),
        ..client(false, "198.51.100.4")
    };
    assert_eq!(
        code(p.check_sender(&banned_ip, "a@b.test", &no_params())),
        Some((550, "5.7.1"))
    );
}

#[test]
fn quota_full_is_452_at_rcpt() {
    let (c, u) = (config(""), users());
    let usage = Usage([("full", 100), ("bob", 10_000)].into_iter().collect());
    let p = Driven {
        usage: Some(&usage),
        ..driven(&c, &u)
    };
    let out = client(false, "192.0.2.9");
    assert_eq!(
        code(p.check_recipient(&out, &from("a@b.test"), "full@example.test")),
        Some((452, "4.2.2"))
    );
    assert_eq!(
        code(p.check_recipient(&out, &from("a@b.test"), "bob@example.test")),
        None
    );
}

#[test]
fn quota_counts_the_declared_size_at_rcpt() {
    // "full" has a quota of 100 bytes.
    let (c, u) = (config(""), users());
    let usage = Usage([("full", 40)].into_iter().collect());
    let p = Driven {
        usage: Some(&usage),
        ..driven(&c, &u)
    };
    let out = client(false, "192.0.2.9");
    let rcpt = |size| code(p.check_recipient(&out, &sized("a@b.test", size), "full@example.test"));
    assert_eq!(rcpt(60), None);
    assert_eq!(rcpt(61), Some((452, "4.2.2")));
}

struct Space(Option<u64>);
impl SpoolSpace for Space {
    fn available(&self) -> Option<u64> {
        self.0
    }
}

#[test]
fn mail_is_refused_when_the_spool_is_short_of_space() {
    let c = config("[limits]\nspool_reserve = \"1M\"\n");
    let u = users();
    let out = client(false, "192.0.2.9");
    let at_mail = |free: Option<u64>, size: Option<u64>| {
        let space = Space(free);
        let p = Driven {
            space: Some(&space),
            ..driven(&c, &u)
        };
        let txn = size.map_or_else(|| from("a@b.test"), |s| sized("a@b.test", s));
        code(p.check_sender(&out, "a@b.test", &txn.params))
    };
    const M: u64 = 1024 * 1024;
    assert_eq!(at_mail(Some(M), None), None);
    assert_eq!(at_mail(Some(M - 1), None), Some((452, "4.3.1")));
    assert_eq!(at_mail(Some(3 * M), Some(2 * M)), None);
    assert_eq!(at_mail(Some(3 * M), Some(2 * M + 1)), Some((452, "4.3.1")));
    assert_eq!(at_mail(None, Some(u64::MAX)), None, "unknown: let through");
    // A reserve of 0 turns it off.
    assert_eq!(short_of_space(0, Some(0), Some(10)), None);
}

#[test]
fn spoofed_sender_only_for_listed_domains_and_spf() {
    let c = config(
        "[receiving.untrusted]\nspoof_check = \"only\"\n\
         spoof_list = [{ field = \"sender\", op = \"contains\", value = \"hotmail.test\" }]\nspf = \"softfail\"\n",
    );
    let u = users();
    let dns = fake();
    let p = Driven {
        dns: Some(&dns),
        ..driven(&c, &u)
    };
    for (ip, sender, want) in [
        ("192.0.2.10", "a@hotmail.test", None),
        ("203.0.113.5", "a@hotmail.test", Some((550, "5.7.1"))), // spoofed
        ("203.0.113.5", "a@soft.test", Some((550, "5.7.23"))),   // not listed; SPF softfail
        ("203.0.113.5", "a@nospf.test", None),
        ("203.0.113.5", "a@fail.test", Some((451, "4.7.24"))), // SPF temperror, RFC 7372
    ] {
        assert_eq!(
            code(p.check_sender(&client(false, ip), sender, &no_params())),
            want,
            "{ip} {sender}"
        );
    }
}

#[test]
fn dnsbl_at_the_configured_stage_for_untrusted_clients_only() {
    let u = users();
    let mut dns = fake();
    dns.ips.insert(
        "5.113.0.203.bl.test".into(),
        vec!["127.0.0.2".parse().expect("ip")],
    );
    // (stage, client trusted?, authenticated?, refused at MAIL, refused at RCPT)
    let table = [
        ("mail", false, false, Some((554, "5.7.1")), None),
        ("rcpt", false, false, None, Some((554, "5.7.1"))),
        ("connect", false, false, None, None), // the driver asks before the greeting
        ("mail", true, false, None, None),     // trusted networks are never checked
        ("rcpt", false, true, None, None),     // nor authenticated clients
    ];
    for (stage, trusted, authenticated, at_mail, at_rcpt) in table {
        let c = config(&format!(
            "[receiving]\ndnsbl = [\"bl.test\"]\ndnsbl_at = \"{stage}\"\n"
        ));
        let p = Driven {
            dns: Some(&dns),
            ..driven(&c, &u)
        };
        let cl = Client {
            auth_user: authenticated.then(|| "bob".to_string()),
            ..client(trusted, "203.0.113.5")
        };
        let why = format!("{stage} trusted={trusted} auth={authenticated}");
        assert_eq!(
            code(p.check_sender(&cl, "a@x.test", &no_params())),
            at_mail,
            "{why}"
        );
        let rcpt = p.check_recipient(&cl, &from("a@x.test"), "bob@example.test");
        assert_eq!(code(rcpt), at_rcpt, "{why}");
    }
}

#[test]
fn greylisting_defers_new_triplets_of_greylisted_classes_only() {
    let u = users();
    let dns = fake();
    let spool = tempfile::tempdir().expect("tmp");
    let c = config(&format!(
        "[paths]\nspool = {:?}\n[receiving.untrusted]\ngreylist = true\n",
        spool.path()
    ));
    let p = Driven {
        dns: Some(&dns),
        ..driven(&c, &u)
    };
    let stranger = client(false, "203.0.113.5");
    let rcpt = |cl: &Client, to: &str| code(p.check_recipient(cl, &from("a@x.test"), to));
    // (client, recipient, expected)
    assert_eq!(rcpt(&stranger, "bob@example.test"), Some((451, "4.7.1")));
    assert_eq!(rcpt(&stranger, "bob@example.test"), Some((451, "4.7.1"))); // too soon
    assert_eq!(rcpt(&stranger, "nobody@example.test"), Some((550, "5.1.1"))); // unknown first
    let authenticated = Client {
        auth_user: Some("bob".into()),
        ..stranger.clone()
    };
    assert_eq!(rcpt(&authenticated, "bob@example.test"), None);
    assert_eq!(rcpt(&client(true, "10.0.0.9"), "bob@example.test"), None);
}

fn txn(rcpt: &str, data: &str) -> Transaction {
    Transaction {
        sender: "a@b.test".into(),
        recipients: vec![(rcpt.into(), Default::default())],
        data: data.as_bytes().to_vec(),
        ..Transaction::default()
    }
}

#[test]
fn message_rules_after_data() {
    let c = config(
        "[receiving.untrusted]\nmax_size = \"2K\"\nblock_extensions = [\"exe\"]\n\
         [[receiving.ban]]\nfield = \"header\"\nheader = \"Subject\"\nop = \"contains\"\nvalue = \"viagra\"\n\
         [[domain.handler]]\nlocal = \"bob\"\nmax_size = \"1K\"\nblock_attachments = true\n",
    );
    let u = users();
    let p = driven(&c, &u);
    let out = client(false, "192.0.2.9");
    let attach = "Subject: hi\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\
                  Content-Type: text/plain\r\n\r\nx\r\n--b\r\nContent-Type: application/zip\r\n\
                  Content-Disposition: attachment; filename=a.zip\r\n\r\nPK\r\n--b--\r\n";
    let exe = attach.replace("a.zip", "a.exe");
    let big = format!("Subject: x\r\n\r\n{}\r\n", "y".repeat(3000));
    let mid = format!("Subject: x\r\n\r\n{}\r\n", "y".repeat(1500));
    for (rcpt, data, want) in [
        ("full@example.test", "Subject: hello\r\n\r\nhi\r\n", None),
        ("full@example.test", big.as_str(), Some((552, "5.3.4"))),
        ("full@example.test", mid.as_str(), None),
        ("bob@example.test", mid.as_str(), Some((552, "5.2.3"))),
        ("full@example.test", attach, None),
        ("bob@example.test", attach, Some((550, "5.7.1"))),
        ("full@example.test", exe.as_str(), Some((550, "5.7.1"))),
        (
            "full@example.test",
            "Subject: VIAGRA\r\n\r\nx\r\n",
            Some((550, "5.7.1")),
        ),
    ] {
        // Handler refusals are per recipient (Ok with the list), the rest refuse the message.
        let got = match p.policy().check_message(&out, &txn(rcpt, data)) {
            Ok(refused) => refused.first().map(|(_, r)| (r.code, enhanced(r.enhanced))),
            Err(r) => Some((r.code, enhanced(r.enhanced))),
        };
        assert_eq!(got, want, "{rcpt} {:.30}", data);
    }
}

#[test]
fn assumptions_trust_an_ip_as_a_user() {
    let c = config("[[receiving.assume]]\nnetwork = \"192.0.2.50/32\"\nuser = \"bob\"\n");
    let ip: IpAddr = "192.0.2.50".parse().expect("ip");
    assert!(trusted_client(&c, None, Some(ip)));
    assert_eq!(assumed_user(&c, ip), Some("bob"));
    assert_eq!(assumed_user(&c, "192.0.2.51".parse().expect("ip")), None);
}

#[test]
fn config_check_refuses_collection_loop_and_bad_rules() {
    let base = "[server]\nhostname = \"mail.example.test\"\npostmaster = \"pm@example.test\"\n";
    let looped = format!(
        "{base}[[domain]]\nname = \"isp.test\"\nhosted = \"remote\"\n\
         [[collect]]\nname = \"isp\"\nserver = \"pop.isp.test\"\nuser = \"u\"\npassword = \"x\"\n"
    );
    let problems = crate::config::parse(&looped, Path::new("/")).expect_err("loop refused");
    assert!(
        problems.iter().any(
            |p| p.line == Some(4) && p.message.contains("isp.test is hosted on another server")
        ),
        "{problems:?}"
    );
    let d = crate::config::Domain {
        name: "isp.test".into(),
        hosted: crate::config::Hosting::Remote,
        server: None,
        redirect: None,
        accept_unhandled: true,
        handlers: Vec::new(),
        dkim: Vec::new(),
        dmarc: None,
        junk: None,
        spam_headers: None,
    };
    assert!(crate::config::domains::reception_loop(&d, true).is_some());
    assert!(crate::config::domains::reception_loop(&d, false).is_none());
    let off = crate::config::Domain {
        accept_unhandled: false,
        ..d
    };
    assert!(crate::config::domains::reception_loop(&off, true).is_none());
    for bad in [
        "[[domain]]\nname = \"e.test\"\n[[domain.handler]]\nlocal = \"a\"\nmailbox = \"a\"\nforward = \"b@c.test\"\n",
        "[[domain]]\nname = \"e.test\"\n[[domain.handler]]\nlocal = \"a@b\"\n",
        "[[domain]]\nname = \"e.test\"\nhosted = \"remote\"\nredirect = \"neil\"\n",
        "[[receiving.ban]]\nfield = \"sender\"\nop = \"matches\"\nvalue = \"(\"\n",
        "[[receiving.ban]]\nfield = \"sender\"\nop = \"equals\"\nvalue = \"x\"\nreply = \"250 ok\"\n",
        "[[receiving.ban]]\nfield = \"header\"\nop = \"equals\"\nvalue = \"x\"\n",
    ] {
        let text = format!("{base}{bad}");
        let problems = crate::config::parse(&text, Path::new("/")).expect_err(bad);
        assert!(problems.iter().all(|p| p.line.is_some()), "{problems:?}");
    }
}

#[test]
fn declared_size_at_mail_and_rcpt() {
    let c = config(
        "[receiving.untrusted]\nmax_size = \"10K\"\n[receiving.trusted]\nmax_size = \"20K\"\n\
         [[domain.handler]]\nlocal = \"bob\"\nmax_size = \"1K\"\n",
    );
    let u = users();
    let p = driven(&c, &u);
    let (out, lan) = (client(false, "192.0.2.9"), client(true, "10.1.2.3"));
    let at_mail = |cl: &Client, size: u64| {
        code(p.check_sender(cl, "a@b.test", &sized("a@b.test", size).params))
    };
    // SIZE= against the class's max_size at MAIL (RFC 1870 §6.1).
    for (cl, size, want) in [
        (&out, 10 * 1024, None),
        (&out, 10 * 1024 + 1, Some((552, "5.3.4"))),
        (&lan, 15 * 1024, None),
        (&lan, 20 * 1024 + 1, Some((552, "5.3.4"))),
    ] {
        assert_eq!(at_mail(cl, size), want, "{size}");
    }
    // SIZE= against the recipient's handler at RCPT (RFC 1870 §6.2); others unaffected.
    for (rcpt, size, want) in [
        ("bob@example.test", Some(1024), None),
        ("bob@example.test", Some(1025), Some((552, "5.2.3"))),
        ("bob@example.test", None, None),
        ("full@example.test", Some(5000), None),
    ] {
        let txn = match size {
            Some(s) => sized("a@b.test", s),
            None => from("a@b.test"),
        };
        assert_eq!(
            code(p.check_recipient(&out, &txn, rcpt)),
            want,
            "{rcpt} {size:?}"
        );
    }
}
