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
