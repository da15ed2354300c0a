//! `postern domain ls` and `postern domain handlers …`: the TOML file is edited in place
//! (comments and order kept), validated before it is replaced, and the server routes by it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic

mod common;

use std::time::Duration;

use common::{have, run, text, wait_for_mail, Demo};

fn ok(d: &Demo, args: &[&str]) -> String {
    let out = d.postern(args);
    assert!(out.status.success(), "{args:?}: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn domain_handlers_edited_in_place_and_used() {
    let mut d = Demo::start();
    d.add_user("bob", "bob-password-1");
    let mut config = std::fs::read_to_string(d.config()).expect("config");
    config.push_str(
        "\n# The branch office.\n[[domain]]\nname = \"branch.test\"  # hosted here\n\
         accept_unhandled = false\n\n[[remote.server]]\nname = \"hq\"\nhost = \"127.0.0.1\"\n",
    );
    std::fs::write(d.config(), &config).expect("write");

    // add-all: one handler per user; a second run adds nothing.
    let out = ok(&d, &["domain", "handlers", "add-all", "branch.test"]);
    assert!(out.contains("handler(s) added"), "{out}");
    assert_eq!(
        ok(&d, &["domain", "handlers", "add-all", "branch.test"]),
        ""
    );
    ok(
        &d,
        &[
            "domain",
            "handlers",
            "add",
            "branch.test",
            "sales",
            "--mailbox",
            "bob",
        ],
    );
    ok(
        &d,
        &[
            "domain",
            "handlers",
            "add",
            "branch.test",
            "jim",
            "--forward",
            "jim@hq.test",
            "--server",
            "hq",
        ],
    );
    let edited = std::fs::read_to_string(d.config()).expect("config");
    // Every original line (comments included) is still there, in its order.
    let mut rest = edited.lines();
    for line in config.lines() {
        assert!(rest.any(|l| l == line), "{line:?} lost or moved:\n{edited}");
    }
    assert!(edited.contains("[[domain.handler]]\nlocal = \"sales\"\nmailbox = \"bob\""));
    assert!(edited.contains("# The branch office."), "{edited}");

    // Refused edits leave the file alone: unknown server, unknown domain, duplicate, bad mailbox.
    for bad in [
        &[
            "domain",
            "handlers",
            "add",
            "branch.test",
            "x",
            "--forward",
            "x@y.test",
            "--server",
            "nope",
        ][..],
        &[
            "domain",
            "handlers",
            "add",
            "nowhere.test",
            "x",
            "--mailbox",
            "bob",
        ],
        &[
            "domain",
            "handlers",
            "add",
            "branch.test",
            "sales",
            "--mailbox",
            "bob",
        ],
        &[
            "domain",
            "handlers",
            "add",
            "branch.test",
            "x",
            "--mailbox",
            "../etc",
        ],
    ] {
        let out = d.postern(bad);
        assert!(!out.status.success(), "{bad:?} accepted");
        let now = std::fs::read_to_string(d.config()).expect("config");
        assert_eq!(now, edited, "{bad:?} changed the file");
    }
    let check = d.postern(&["config", "check"]);
    assert!(check.status.success(), "{}", text(&check));

    // ls --json lists the domain with its handlers.
    let rows: Vec<serde_json::Value> = ok(&d, &["domain", "ls", "--json"])
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    let branch = rows
        .iter()
        .find(|r| r["name"] == "branch.test")
        .expect("branch row");
    let locals: Vec<&str> = branch["handler"]
        .as_array()
        .expect("handler list (named as in the TOML)")
        .iter()
        .filter_map(|h| h["local"].as_str())
        .collect();
    assert!(
        locals.contains(&"bob") && locals.contains(&"demo"),
        "{locals:?}"
    );
    assert!(
        locals.contains(&"sales") && locals.contains(&"jim"),
        "{locals:?}"
    );
    let plain = ok(&d, &["domain", "ls"]);
    assert!(
        plain.contains("jim@branch.test -> forward jim@hq.test via hq"),
        "{plain}"
    );

    // del removes exactly that handler.
    ok(&d, &["domain", "handlers", "del", "branch.test", "jim"]);
    assert!(!ok(&d, &["domain", "ls"]).contains("jim@branch.test"));

    // The server routes by the edited file: sales@branch.test reaches bob, others are refused.
    d.restart();
    assert!(
        have("swaks"),
        "swaks is not installed (bin/install-test-deps)"
    );
    let server = format!("127.0.0.1:{}", d.port(2525));
    let send = |to: &str| {
        text(&run(
            "swaks",
            &[
                "--server",
                &server,
                "--timeout",
                "20",
                "--from",
                "a@outside.test",
                "--to",
                to,
            ],
        ))
    };
    let out = send("sales@branch.test");
    assert!(out.contains("250 2.0.0 Ok: queued"), "{out}");
    assert_eq!(
        wait_for_mail(&d.maildir("bob"), 1, Duration::from_secs(20)).len(),
        1
    );
    let out = send("nobody@branch.test");
    assert!(out.contains("550 5.1.1"), "{out}");
}

/// The seed's warning (scenario 3): a domain hosted on another server that accepts addresses
/// without a handler would send mail collected for it straight back to that server. The real
/// config file, checked by `postern config check`: exit 78 (EX_CONFIG), FILE:LINE and the way out;
/// the daemons refuse it too. Each way out checks clean.
#[test]
fn config_check_refuses_the_collection_loop_of_a_remote_domain() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("postern.toml");
    let base = "[server]\nhostname = \"mail.example.test\"\npostmaster = \"pm@example.test\"\n\n\
                [[domain]]\nname = \"example.test\"\n\n";
    let isp = "[[domain]]\nname = \"isp.test\"\nhosted = \"remote\"\n";
    let collect = "\n[[collect]]\nname = \"isp\"\nserver = \"pop.isp.test\"\nuser = \"office\"\n\
                   password = \"x\"\ncatch_all = \"pm@example.test\"\n";
    let check = |text: &str| {
        std::fs::write(&path, text).expect("write");
        common::run(
            common::bin().to_str().expect("utf8"),
            &["--config", path.to_str().expect("utf8"), "config", "check"],
        )
    };
    let looped = format!("{base}{isp}{collect}");
    let out = check(&looped);
    assert_eq!(out.status.code(), Some(78), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    // Line 8 is the [[domain]] table of isp.test.
    let want = format!(
        "{}:8: domain isp.test is hosted on another server and accepts addresses with no \
         handler, so mail collected by POP3 for it would be sent back out",
        path.display()
    );
    assert!(err.contains(&want), "{want:?} missing in:\n{err}");
    assert!(
        err.contains("set accept_unhandled = false and add handlers"),
        "{err}"
    );
    // With accept_unhandled = true written out, the line is that key's.
    let explicit = format!("{base}{isp}accept_unhandled = true\n{collect}");
    let err = text(&check(&explicit));
    assert!(
        err.contains(&format!("{}:11: domain isp.test", path.display())),
        "{err}"
    );
    // smtpd will not start on it either.
    std::fs::write(&path, &looped).expect("write");
    let out = common::run(
        common::bin().to_str().expect("utf8"),
        &[
            "--config",
            path.to_str().expect("utf8"),
            "smtpd",
            "--listen",
            "127.0.0.1:1",
        ],
    );
    assert_eq!(out.status.code(), Some(78), "{}", text(&out));
    // The postmaster and catch-all pm, and bob of the handler, must be users (config check
    // reads the users file).
    std::fs::write(&path, format!("{base}{isp}")).expect("write");
    for user in ["pm", "bob"] {
        let mut add = std::process::Command::new(common::bin());
        add.args([
            "--config",
            path.to_str().expect("utf8"),
            "user",
            "add",
            user,
        ])
        .arg("--password-stdin");
        assert!(common::output_with_stdin(&mut add, b"a-pw\n")
            .status
            .success());
    }
    // The ways out: handlers only, a specific server for the domain, or no collection.
    for fixed in [
        format!("{base}{isp}accept_unhandled = false\n[[domain.handler]]\nlocal = \"bob\"\nmailbox = \"bob\"\n{collect}"),
        format!("{base}{isp}server = \"hq\"\n[[remote.server]]\nname = \"hq\"\nhost = \"127.0.0.1\"\n{collect}"),
        format!("{base}{isp}"),
    ] {
        let out = check(&fixed);
        assert!(out.status.success(), "{fixed}\n{}", text(&out));
    }
}

/// A handler's local part must be one an address can have (issue 11, point 13): `handlers add`
/// refuses `../x` and the like with exit 64 and leaves the file alone, and `config check` refuses
/// the same thing written by hand (exit 78, FILE:LINE). A valid unusual one (`first+tag`,
/// `o'brien`) is taken.
#[test]
fn handler_local_parts_must_be_valid() {
    let site = common::site::Site::new("");
    let path = site.config();
    let before = std::fs::read_to_string(&path).expect("config");
    let long = "a".repeat(65);
    for bad in [
        "../x", "..", "a..b", ".x", "x.", "a b", "a@b", "\"q\"", &long,
    ] {
        let out = site.postern(&[
            "domain",
            "handlers",
            "add",
            "example.test",
            bad,
            "--mailbox",
            "demo",
        ]);
        assert_eq!(out.status.code(), Some(64), "{bad:?}: {}", text(&out));
        assert!(
            text(&out).contains("local part"),
            "{bad:?}: no reason given: {}",
            text(&out)
        );
        let now = std::fs::read_to_string(&path).expect("config");
        assert_eq!(now, before, "{bad:?} changed the file");
    }
    for good in ["first+tag", "o'brien"] {
        let out = site.postern(&[
            "domain",
            "handlers",
            "add",
            "example.test",
            good,
            "--mailbox",
            "demo",
        ]);
        assert!(out.status.success(), "{good:?}: {}", text(&out));
    }
    site.add_user("postmaster", "pm-pw");
    let out = site.postern(&["config", "check"]);
    assert!(out.status.success(), "{}", text(&out));
    let ls = site.postern(&["domain", "ls"]);
    assert!(
        text(&ls).contains("first+tag@example.test -> mailbox demo"),
        "{}",
        text(&ls)
    );

    // Written by hand: config check names the line of the bad local part.
    let edited = std::fs::read_to_string(&path).expect("config");
    let bad = format!("{edited}\n[[domain.handler]]\nlocal = \"../x\"\nmailbox = \"demo\"\n");
    std::fs::write(&path, &bad).expect("write");
    let line = bad
        .lines()
        .position(|l| l == "local = \"../x\"")
        .expect("line")
        + 1;
    let out = site.postern(&["config", "check"]);
    assert_eq!(out.status.code(), Some(78), "{}", text(&out));
    let want = format!(
        "{}:{line}: domain example.test: handler local part \"../x\" is not valid",
        path.display()
    );
    assert!(
        text(&out).contains(&want),
        "{want:?} missing:\n{}",
        text(&out)
    );
}
