use std::path::Path;

use super::*;

const MINIMAL: &str = r#"
[server]
hostname = "mail.example.test"
postmaster = "postmaster@example.test"
"#;

#[test]
fn minimal_config_gets_defaults() {
    let c = parse(MINIMAL, Path::new("/etc/postern")).expect("valid");
    assert_eq!(c.limits.line_length, 1000);
    assert_eq!(c.paths.users, PathBuf::from("/etc/postern/users.toml"));
    assert!(c.trust.contains("127.0.0.1".parse().expect("ip")));
    assert!(!c.trust.contains("192.0.2.1".parse().expect("ip")));
}

#[test]
fn full_config_parses() {
    let text = r#"
[server]
hostname = "mail.example.test"
postmaster = "postmaster@example.test"
[paths]
spool = "spool"
mail = "/srv/mail"
[limits]
message_size = "10M"
idle_timeout = "2m"
[trust]
networks = ["10.0.0.0/8"]
[delivery]
gateway = "127.0.0.1:2526"
retry = ["1m", "5m"]
[[domain]]
name = "example.test"
[[domain]]
name = "elsewhere.test"
hosted = "remote"
[[listener]]
name = "smtp"
protocol = "smtp"
address = "127.0.0.1:2525"
"#;
    let c = parse(text, Path::new("/d")).expect("valid");
    assert_eq!(c.limits.message_size.0, 10 * 1024 * 1024);
    assert_eq!(c.limits.idle_timeout.0, 120);
    assert_eq!(c.paths.spool, PathBuf::from("/d/spool"));
    assert_eq!(c.paths.mail, PathBuf::from("/srv/mail"));
    assert!(c.is_hosted_here("EXAMPLE.test"));
    assert!(!c.is_hosted_here("elsewhere.test"));
    assert_eq!(c.delivery.retry_after(1).as_secs(), 60);
    assert_eq!(c.delivery.retry_after(9).as_secs(), 300);
}

#[test]
fn every_problem_is_reported_with_its_line() {
    let text = r#"[server]
hostname = "not a host"
postmaster = "nobody"
[limits]
line_length = 100
[[listener]]
name = "a"
protocol = "smtp"
address = "127.0.0.1:25"
tls = "implicit"
[[listener]]
name = "a"
protocol = "pop3"
address = "127.0.0.1:25"
"#;
    let problems = parse(text, Path::new("/")).expect_err("invalid");
    let lines: Vec<_> = problems.iter().map(|p| p.line).collect();
    assert_eq!(
        lines,
        vec![
            Some(2),
            Some(3),
            Some(5),
            Some(10),
            Some(10),
            Some(12),
            Some(14)
        ],
        "{problems:#?}"
    );
}

#[test]
fn syntax_and_type_errors_have_lines() {
    for (text, line) in [
        ("[server]\nhostname = \"a.b\"\npostmaster = \n", 3),
        (
            "[server]\nhostname = \"a.b\"\npostmaster = \"p@a.b\"\n[limits]\nrecipients = \"many\"\n",
            5,
        ),
        (
            "[server]\nhostname = \"a.b\"\npostmaster = \"p@a.b\"\nbogus = 1\n",
            4,
        ),
    ] {
        let problems = parse(text, Path::new("/")).expect_err("invalid");
        assert_eq!(problems[0].line, Some(line), "{text}: {problems:?}");
    }
}

#[test]
fn missing_server_section_is_an_error() {
    let problems = parse("", Path::new("/")).expect_err("invalid");
    assert!(problems[0].message.contains("server"), "{problems:?}");
}

#[test]
fn a_handlers_server_must_be_in_the_servers_table() {
    let text = format!(
        "{MINIMAL}[[domain]]\nname = \"example.test\"\n[[domain.handler]]\nlocal = \"jim\"\n\
         forward = \"jim@far.test\"\nserver = \"provincial\"\n"
    );
    let problems = parse(&text, Path::new("/")).expect_err("unknown server");
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert_eq!(problems[0].line, Some(10), "{problems:#?}");
    assert!(problems[0].message.contains("provincial"));
    let ok = format!("{text}[[remote.server]]\nname = \"provincial\"\nhost = \"mx.far.test\"\n");
    assert!(parse(&ok, Path::new("/")).is_ok());
}

#[test]
fn one_resolver_setting_under_three_spellings() {
    let addr: std::net::SocketAddr = "127.0.0.1:5353".parse().expect("addr");
    for extra in [
        "[dns]\nservers = [\"127.0.0.1:5353\"]\n",
        "[remote.dns]\nservers = [\"127.0.0.1:5353\"]\n",
        "[receiving]\ndns = [\"127.0.0.1:5353\"]\n",
    ] {
        let c = parse(&format!("{MINIMAL}{extra}"), Path::new("/")).expect(extra);
        assert_eq!(c.dns().servers, vec![addr], "{extra}");
    }
    assert!(parse(MINIMAL, Path::new("/"))
        .expect("min")
        .dns()
        .servers
        .is_empty());
    let twice = format!("{MINIMAL}[dns]\nattempts = 1\n[remote.dns]\nattempts = 3\n");
    assert!(parse(&twice, Path::new("/")).is_err());
}

#[test]
fn filter_section() {
    let c = parse(
        &format!("{MINIMAL}[filter]\ncommand = \"clamdscan --no-summary -\"\n"),
        Path::new("/"),
    )
    .expect("filter");
    let f = c.filter.expect("set");
    assert_eq!(f.argv()[..2], ["/bin/sh".to_string(), "-c".to_string()]);
    assert_eq!(f.reject_codes, vec![1]);
    let argv = format!("{MINIMAL}[filter]\ncommand = [\"/usr/bin/clamdscan\", \"-\"]\n");
    let f = parse(&argv, Path::new("/"))
        .expect("argv")
        .filter
        .expect("set");
    assert_eq!(f.argv(), vec!["/usr/bin/clamdscan".to_string(), "-".into()]);
    for bad in [
        "command = \"\"",
        "command = \"x\"\ntimeout = 0",
        "command = \"x\"\nreject_codes = [0]",
        "command = \"x\"\nreject_reply = \"451 4.7.1 later\"",
    ] {
        let text = format!("{MINIMAL}[filter]\n{bad}\n");
        assert!(parse(&text, Path::new("/")).is_err(), "{bad}");
    }
}

#[test]
fn max_attempts_is_optional_and_positive() {
    let base = "[server]\nhostname = \"a.test\"\npostmaster = \"p@a.test\"\n[delivery]\n";
    let c = parse(base, Path::new("/")).expect("no limit");
    assert_eq!(c.delivery.max_attempts, None);
    let c = parse(&format!("{base}max_attempts = 3\n"), Path::new("/")).expect("three");
    assert_eq!(c.delivery.max_attempts, Some(3));
    let problems = parse(&format!("{base}max_attempts = 0\n"), Path::new("/")).expect_err("0");
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].line, Some(5), "{problems:?}");
    assert!(problems[0].message.contains("max_attempts"), "{problems:?}");
}

/// A `matches` criterion is compiled once, as the configuration is read; one that does not
/// compile is a problem reported with its line (the ban's table, and a spoof list's entry).
#[test]
fn receiving_rule_regexes_are_compiled_at_load() {
    let head = "[server]\nhostname = \"a.test\"\npostmaster = \"p@a.test\"\n";
    let good = format!(
        "{head}[[receiving.ban]]\nfield = \"helo\"\nop = \"matches\"\nvalue = '^mx\\d+\\.'\n"
    );
    let c = parse(&good, Path::new("/")).expect("valid");
    let ban = &c.receiving.bans[0];
    assert!(
        matches!(&ban.criterion.regex, Some(Ok(re)) if re.is_match("MX7.example")),
        "{ban:?}"
    );
    let plain =
        format!("{head}[[receiving.ban]]\nfield = \"helo\"\nop = \"equals\"\nvalue = \"x\"\n");
    let c = parse(&plain, Path::new("/")).expect("valid");
    assert!(c.receiving.bans[0].criterion.regex.is_none());

    let bad = format!(
        "{head}[receiving.untrusted]\nspoof_check = \"only\"\n\
         spoof_list = [{{ field = \"sender\", op = \"matches\", value = \"(unclosed\" }}]\n\
         [[receiving.ban]]\nfield = \"helo\"\nop = \"matches\"\nvalue = \"[z-a]\"\n"
    );
    let problems = parse(&bad, Path::new("/")).expect_err("bad regexes");
    let found: Vec<_> = problems
        .iter()
        .map(|p| (p.line, p.message.contains("bad regular expression")))
        .collect();
    assert_eq!(found, [(Some(6), true), (Some(7), true)], "{problems:#?}");
}

/// `[acme]`: defaults, and each bad value reported on its line.
#[test]
fn acme_section() {
    let head = "[server]\nhostname = \"mail.a.test\"\npostmaster = \"p@a.test\"\n\
                [[listener]]\nname = \"s\"\nprotocol = \"smtp\"\naddress = \"127.0.0.1:25\"\n\
                tls = \"starttls\"\ncert = \"c.pem\"\nkey = \"k.pem\"\n";
    let good =
        format!("{head}[acme]\ndirectory = \"https://ca.test/dir\"\ncontact = [\"p@a.test\"]\n");
    let c = parse(&good, Path::new("/etc/postern")).expect("valid");
    let acme = c.acme.as_ref().expect("acme");
    assert_eq!(acme.renew_before.0, 30 * 86_400);
    assert_eq!(acme.http_listen.to_string(), "0.0.0.0:80");
    assert_eq!(acme.tls_alpn_listener.to_string(), "0.0.0.0:443");
    assert_eq!(acme.contact_urls(), vec!["mailto:p@a.test"]);
    let targets = acme.targets(&c);
    assert_eq!(targets.len(), 1);
    assert_eq!(targets[0].cert, Path::new("/etc/postern/c.pem"));
    for (bad, line) in [
        ("directory = \"http://ca.test/dir\"", 12),
        (
            "directory = \"https://ca.test/dir\"\ncontact = [\"not an address\"]",
            13,
        ),
        (
            "directory = \"https://ca.test/dir\"\nnames = [\"*.a.test\"]",
            13,
        ),
        (
            "directory = \"https://ca.test/dir\"\nrenew_before = \"0s\"",
            13,
        ),
        (
            "directory = \"https://ca.test/dir\"\ncheck_interval = \"5s\"",
            13,
        ),
        (
            "directory = \"https://ca.test/dir\"\nchallenge = \"dns-01\"",
            13,
        ),
        (
            "directory = \"https://ca.test/dir\"\nkey_type = \"rsa1024\"",
            13,
        ),
    ] {
        let text = format!("{head}[acme]\n{bad}\n");
        let problems = parse(&text, Path::new("/")).expect_err(bad);
        assert_eq!(problems.len(), 1, "{bad}: {problems:?}");
        assert_eq!(problems[0].line, Some(line), "{bad}: {problems:?}");
    }
    // Nowhere to write: no TLS listener and no acme.cert/key.
    let bare = "[server]\nhostname = \"mail.a.test\"\npostmaster = \"p@a.test\"\n\
                [acme]\ndirectory = \"https://ca.test/dir\"\n";
    let problems = parse(bare, Path::new("/")).expect_err("no target");
    assert!(
        problems[0].message.contains("nowhere to write"),
        "{problems:?}"
    );
}
