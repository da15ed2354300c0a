//! `postern domain ls` and `postern domain handlers …`: the TOML file is edited in place
//! (comments and order kept), validated before it is replaced, and the server routes by it.

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
    if !have("swaks") {
        eprintln!("swaks not installed; skipping the SMTP part");
        return;
    }
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
