//! Table tests per RFC section: each script runs on a small message and its actions are
//! compared as text (`Action`'s Display, then "implicit keep" when it applies).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic

use super::*;

const MSG: &str = "Return-Path: <alice@example.com>\r\n\
Received: from mx.example.com by mail.example.net; Fri, 4 Dec 2026 09:00:00 +0000\r\n\
From: Alice Example <alice@example.com>\r\n\
To: Bob <bob+lists@example.net>, carol@example.org\r\n\
Cc: dave@EXAMPLE.net\r\n\
Subject: [acme-users] [fwd] version 1.0 is out\r\n\
Date: Fri, 4 Dec 2026 10:30:15 +0100\r\n\
Message-ID: <m1@example.com>\r\n\
X-Spam: =?UTF-8?Q?caf=C3=A9?=\r\n\
\r\n\
Hello Bob,\r\n\
the new version is out. MAKE MONEY FAST.\r\n";

fn env() -> Envelope {
    Envelope {
        from: "alice@example.com".into(),
        to: "bob+lists@example.net".into(),
        orig_to: None,
        auth: None,
    }
}

#[derive(Default)]
struct TestEnv {
    mailboxes: Vec<String>,
    scripts: Vec<(bool, String, String)>,
    seen: Vec<String>,
}

impl Environment for TestEnv {
    fn mailbox_exists(&mut self, name: &str) -> bool {
        self.mailboxes.iter().any(|m| m == name)
    }
    fn include(&mut self, global: bool, name: &str) -> Option<String> {
        self.scripts
            .iter()
            .find(|(g, n, _)| *g == global && n == name)
            .map(|(_, _, s)| s.clone())
    }
    fn duplicate(&mut self, id: &str, handle: &str, _seconds: u64, _last: bool) -> bool {
        let key = format!("{handle}/{id}");
        if self.seen.contains(&key) {
            true
        } else {
            self.seen.push(key);
            false
        }
    }
}

fn outcome_with(
    script: &str,
    msg: &str,
    e: &mut TestEnv,
    input_env: &Envelope,
) -> Result<Outcome, String> {
    let s = compile(script, &Extensions::all()).map_err(|e| format!("compile: {e}"))?;
    let input = Input {
        envelope: input_env,
        message: msg.as_bytes(),
        spam_score: Some(SpamScore {
            value: 7,
            percent: 65,
        }),
        now: (1_796_382_000, 60),
        subaddress_separator: '+',
    };
    run(&s, &input, e, &Budget::default()).map_err(|e| format!("run: {e}"))
}

fn actions(script: &str) -> String {
    actions_on(script, MSG)
}

fn actions_on(script: &str, msg: &str) -> String {
    match outcome_with(script, msg, &mut TestEnv::default(), &env()) {
        Ok(o) => show(&o),
        Err(e) => e,
    }
}

fn show(o: &Outcome) -> String {
    let mut v: Vec<String> = o.actions.iter().map(ToString::to_string).collect();
    if o.implicit_keep {
        let mut k = "implicit keep".to_string();
        if !o.implicit_keep_flags.is_empty() {
            k.push_str(&format!(" flags [{}]", o.implicit_keep_flags.join(" ")));
        }
        v.push(k);
    }
    v.join("; ")
}

fn table(cases: &[(&str, &str)]) {
    let mut failed = Vec::new();
    for (script, want) in cases {
        let got = actions(script);
        if got != *want {
            failed.push(format!("script:\n{script}\n  want: {want}\n  got:  {got}"));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

#[test]
fn rfc5228_control_and_actions() {
    table(&[
        ("", "implicit keep"),
        ("keep;", "keep"),
        ("discard;", "discard"),
        ("stop; discard;", "implicit keep"),
        ("redirect \"x@example.org\";", "redirect x@example.org"),
        (
            "redirect \"x@example.org\"; redirect \"X@example.org\";",
            "redirect x@example.org",
        ),
        (
            "require \"fileinto\"; fileinto \"A\"; fileinto \"A\";",
            "fileinto A",
        ),
        (
            "if false { discard; } elsif true { keep; } else { stop; }",
            "keep",
        ),
        (
            "if false { discard; } elsif false { keep; } else { redirect \"a@b.c\"; }",
            "redirect a@b.c",
        ),
        ("if not false { discard; }", "discard"),
        ("if allof(true, false) { discard; }", "implicit keep"),
        ("if anyof(false, true) { discard; }", "discard"),
        ("# comment\n/* block\ncomment */ keep;", "keep"),
    ]);
}

#[test]
fn rfc5228_tests() {
    table(&[
        ("if header :contains \"subject\" \"VERSION\" { discard; }", "discard"),
        ("if header :comparator \"i;octet\" :contains \"subject\" \"VERSION\" { discard; }", "implicit keep"),
        ("if header :is \"x-spam\" \"café\" { discard; }", "discard"),
        ("if header :matches \"subject\" \"*1.?*\" { discard; }", "discard"),
        ("if header :is [\"to\", \"cc\"] \"dave@EXAMPLE.net\" { discard; }", "discard"),
        ("if address :is \"from\" \"alice@example.com\" { discard; }", "discard"),
        ("if address :domain :is \"to\" \"example.org\" { discard; }", "discard"),
        ("if address :localpart :is \"cc\" \"dave\" { discard; }", "discard"),
        ("if address :all :is \"from\" \"Alice Example\" { discard; }", "implicit keep"),
        ("require \"envelope\"; if envelope :is \"from\" \"alice@example.com\" { discard; }", "discard"),
        ("require \"envelope\"; if envelope :domain :is \"to\" \"example.net\" { discard; }", "discard"),
        ("if exists [\"from\", \"date\"] { discard; }", "discard"),
        ("if exists [\"from\", \"x-nope\"] { discard; }", "implicit keep"),
        ("if size :over 100 { discard; }", "discard"),
        ("if size :under 1K { discard; }", "discard"),
        ("if size :over 1M { discard; }", "implicit keep"),
        ("require \"comparator-i;ascii-numeric\"; if header :is :comparator \"i;ascii-numeric\" \"x-none\" \"1\" { discard; }", "implicit keep"),
    ]);
}

#[test]
fn rfc5228_strings() {
    table(&[
        ("require \"fileinto\"; fileinto \"a\\\\b\\\"c\";", "fileinto a\\b\"c"),
        ("require [\"fileinto\", \"variables\"]; set \"x\" text:\r\nline one\r\n..dot\r\n.\r\n; if string :is \"${x}\" \"line one\r\n.dot\r\n\" { discard; }", "discard"),
        ("require [\"fileinto\", \"encoded-character\"]; fileinto \"${hex:46 6f}o${unicode:0021}\";", "fileinto Foo!"),
        ("require \"fileinto\"; fileinto \"${hex:46}\";", "fileinto ${hex:46}"),
    ]);
}

#[test]
fn compile_errors_have_lines() {
    let cases: &[(&str, usize, &str)] = &[
        ("keep;\nfileinto \"x\";", 2, "requires require \"fileinto\""),
        ("require \"nosuch\";", 1, "unsupported extension"),
        (
            "keep;\nrequire \"fileinto\";",
            2,
            "require must come before",
        ),
        ("if true {\n keep;\n", 1, "not closed"),
        ("keep\n", 1, "expected ';'"),
        ("frobnicate;", 1, "unknown command"),
        ("if header :frob \"a\" \"b\" { }", 1, "unknown tag :frob"),
        ("elsif true { }", 1, "without a preceding if"),
        ("redirect \"not an address\";", 1, "invalid address"),
        ("if size :over \"x\" {}", 1, "needs a number"),
        (
            "require \"relational\";\nif header :value \"xx\" \"a\" \"b\" {}",
            2,
            "unknown relational",
        ),
        (
            "require \"variables\";\nset \"1a\" \"x\";",
            2,
            "invalid variable name",
        ),
        ("\"unterminated", 1, "unterminated string"),
        (
            "require \"fileinto\";\nfileinto \"a/../b\";",
            2,
            "'.' and '..'",
        ),
        (
            "require \"fileinto\";\nfileinto \"\";",
            2,
            "empty mailbox name",
        ),
        (
            "require \"vacation\";\nvacation :seconds 5 \"x\";",
            2,
            "vacation-seconds",
        ),
    ];
    for (script, line, frag) in cases {
        let err = compile(script, &Extensions::all()).expect_err(script);
        assert_eq!(err.line, *line, "{script}: {err}");
        assert!(err.message.contains(frag), "{script}: {err}");
        assert!(err.to_string().starts_with(&format!("line {line}: ")));
    }
    let mut only_base = Extensions::none();
    only_base.insert(Extension::FileInto);
    assert!(compile("require \"vacation\";", &only_base).is_err());
    assert!(compile("require \"fileinto\";", &only_base).is_ok());
}

#[test]
fn limits_bound_scripts() {
    let limits = Limits {
        max_script_size: 10,
        ..Limits::default()
    };
    assert!(compile_with_limits("keep; keep; keep;", &Extensions::all(), &limits).is_err());
    let deep = format!("{}keep;{}", "if true {".repeat(100), "}".repeat(100));
    let err = compile(&deep, &Extensions::all()).unwrap_err();
    assert!(err.message.contains("nested too deeply"), "{err}");
    let many = "keep;".repeat(20_000);
    assert!(compile(&many, &Extensions::all()).is_err());
    let deep_tests = format!("if {}true{} {{ keep; }}", "not ".repeat(200), "");
    assert!(compile(&deep_tests, &Extensions::all()).is_err());
}

#[test]
fn budget_bounds_runs() {
    let s = compile(
        "require \"variables\"; set \"a\" \"x\"; set \"b\" \"${a}${a}\";",
        &Extensions::all(),
    )
    .unwrap();
    let e = env();
    let input = Input {
        envelope: &e,
        message: MSG.as_bytes(),
        spam_score: None,
        now: (0, 0),
        subaddress_separator: '+',
    };
    let budget = Budget {
        max_steps: 1,
        ..Budget::default()
    };
    assert_eq!(
        run(&s, &input, &mut NoEnvironment, &budget),
        Err(RuntimeError::TooManySteps(1))
    );
    let redirects = (0..6)
        .map(|i| format!("redirect \"u{i}@example.org\";"))
        .collect::<String>();
    assert!(actions(&redirects).contains("redirects more than 4"));
}

#[test]
fn rfc5490_mailbox() {
    let mut e = TestEnv {
        mailboxes: vec!["Work".into()],
        ..TestEnv::default()
    };
    let script = "require [\"fileinto\", \"mailbox\"]; if mailboxexists \"Work\" { fileinto :create \"Work/New\"; } if mailboxexists [\"Work\", \"Nope\"] { discard; }";
    let o = outcome_with(script, MSG, &mut e, &env()).unwrap();
    assert_eq!(
        o.actions,
        vec![Action::FileInto {
            mailbox: "Work/New".into(),
            flags: vec![],
            create: true,
            copy: false
        }]
    );
}

#[test]
fn rfc5429_reject() {
    table(&[
        ("require \"reject\"; reject \"no thanks\";", "reject"),
        ("require \"ereject\"; ereject \"no\";", "ereject"),
        (
            "require [\"reject\", \"fileinto\"]; fileinto \"A\"; reject \"no\";",
            "run: reject conflicts with fileinto",
        ),
        (
            "require [\"reject\"]; reject \"no\"; keep;",
            "run: reject conflicts with keep",
        ),
        (
            "require [\"reject\"]; discard; reject \"no\";",
            "discard; reject",
        ),
    ]);
}

#[test]
fn rfc5229_variables() {
    table(&[
        ("require [\"variables\", \"fileinto\"]; if header :matches \"subject\" \"[*] *\" { fileinto \"lists.${1}\"; }", "fileinto lists.acme-users"),
        ("require [\"variables\", \"fileinto\"]; if address :matches \"from\" \"*@*\" { fileinto \"${2}-${1}-${0}\"; }", "fileinto example.com-alice-alice@example.com"),
        ("require [\"variables\", \"fileinto\"]; set :upper \"a\" \"Work\"; fileinto \"${a}\";", "fileinto WORK"),
        ("require [\"variables\", \"fileinto\"]; set :lower :upperfirst \"a\" \"wORK\"; fileinto \"${A}\";", "fileinto Work"),
        ("require [\"variables\", \"fileinto\"]; set :length \"a\" \"héllo\"; fileinto \"${a}\";", "fileinto 5"),
        ("require [\"variables\"]; set :quotewildcard \"a\" \"a*b?\"; if string :is \"${a}\" \"a\\\\*b\\\\?\" { discard; }", "discard"),
        ("require [\"variables\", \"fileinto\"]; fileinto \"x${unset}y${bad-name}\";", "fileinto xy${bad-name}"),
        ("require \"variables\"; set \"a\" \"1\"; if string :is \"${a}\" \"1\" { discard; }", "discard"),
        ("require [\"variables\", \"relational\"]; if string :count \"eq\" [\"a\", \"\", \"b\"] \"2\" { discard; }", "discard"),
        ("require [\"variables\", \"fileinto\"]; if header :matches \"subject\" \"nomatch*\" {} fileinto \"[${1}]\";", "fileinto []"),
        ("require \"fileinto\"; fileinto \"${x}\";", "fileinto ${x}"),
        ("require [\"variables\", \"fileinto\"]; set \"x\" \"..\"; fileinto \"a/${x}/b\";", "run: fileinto: mailbox name \"a/../b\": '.' and '..' are not allowed as mailbox name levels"),
        ("require [\"variables\", \"fileinto\"]; if header :matches \"subject\" \"*\" { fileinto \"Lists/${1}\"; }", "fileinto Lists/[acme-users] [fwd] version 1.0 is out"),
    ]);
}

#[test]
fn rfc5232_imap4flags() {
    table(&[
        ("require \"imap4flags\"; addflag \"\\\\Seen\"; keep;", "keep flags [\\Seen]"),
        ("require \"imap4flags\"; setflag [\"\\\\Seen \\\\Flagged\", \"$Work\"]; removeflag \"\\\\seen\";", "implicit keep flags [\\Flagged $Work]"),
        ("require [\"imap4flags\", \"fileinto\"]; addflag \"\\\\Seen\"; fileinto :flags \"\\\\Answered\" \"A\"; fileinto \"B\";", "fileinto A flags [\\Answered]; fileinto B flags [\\Seen]"),
        ("require \"imap4flags\"; addflag [\"\\\\Bogus\", \"ok\", \"OK\"]; keep;", "keep flags [ok]"),
        ("require \"imap4flags\"; addflag \"\\\\Seen\"; if hasflag :is \"\\\\seen\" { discard; }", "discard"),
        ("require [\"imap4flags\", \"variables\"]; addflag \"v\" [\"a\", \"b\"]; if hasflag :is \"v\" \"b\" { discard; }", "discard"),
        ("require [\"imap4flags\", \"variables\"]; addflag \"MyVar\" \"a\"; if hasflag \"myvar\" \"a\" { discard; }", "discard"),
        ("require [\"imap4flags\", \"relational\", \"comparator-i;ascii-numeric\"]; addflag [\"a\", \"b c\"]; if hasflag :count \"eq\" :comparator \"i;ascii-numeric\" \"3\" { discard; }", "discard"),
    ]);
}

#[test]
fn rfc5173_body() {
    let mime = "From: a@example.com\r\nTo: b@example.net\r\nSubject: m\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"xx\"\r\n\r\n--xx\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\ncaf=C3=A9 au lait\r\n--xx\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\nc2VjcmV0IHBheWxvYWQ=\r\n--xx--\r\n";
    let cases = [
        ("require \"body\"; if body :contains \"money fast\" { discard; }", MSG, "discard"),
        ("require \"body\"; if body :raw :contains \"caf=C3=A9\" { discard; }", mime, "discard"),
        ("require \"body\"; if body :text :contains \"café\" { discard; }", mime, "discard"),
        ("require \"body\"; if body :text :contains \"payload\" { discard; }", mime, "implicit keep"),
        ("require \"body\"; if body :content \"application\" :contains \"secret payload\" { discard; }", mime, "discard"),
        ("require \"body\"; if body :content \"text/html\" :contains \"café\" { discard; }", mime, "implicit keep"),
    ];
    for (script, msg, want) in cases {
        assert_eq!(actions_on(script, msg), want, "{script}");
    }
}

#[test]
fn rfc5231_relational() {
    table(&[
        ("require [\"relational\", \"comparator-i;ascii-numeric\"]; if address :count \"ge\" :comparator \"i;ascii-numeric\" [\"to\", \"cc\"] \"3\" { discard; }", "discard"),
        ("require [\"relational\", \"comparator-i;ascii-numeric\"]; if address :count \"gt\" :comparator \"i;ascii-numeric\" [\"to\", \"cc\"] \"3\" { discard; }", "implicit keep"),
        ("require [\"relational\", \"comparator-i;ascii-numeric\"]; if header :value \"lt\" :comparator \"i;ascii-numeric\" \"x-none\" \"5\" { discard; }", "implicit keep"),
        ("require [\"relational\"]; if header :value \"gt\" \"subject\" \"[a\" { discard; }", "discard"),
    ]);
}

#[test]
fn rfc5233_subaddress() {
    table(&[
        ("require [\"subaddress\", \"envelope\"]; if envelope :detail \"to\" \"lists\" { discard; }", "discard"),
        ("require [\"subaddress\", \"envelope\"]; if envelope :user \"to\" \"bob\" { discard; }", "discard"),
        ("require [\"subaddress\"]; if address :detail \"cc\" \"\" { discard; }", "implicit keep"),
        ("require [\"subaddress\"]; if address :user \"cc\" \"dave\" { discard; }", "discard"),
    ]);
}

#[test]
fn rfc3894_copy() {
    table(&[
        (
            "require [\"copy\", \"fileinto\"]; fileinto :copy \"A\";",
            "fileinto A (copy); implicit keep",
        ),
        (
            "require [\"copy\"]; redirect :copy \"x@example.org\";",
            "redirect x@example.org (copy); implicit keep",
        ),
    ]);
}

#[test]
fn rfc5260_date_and_index() {
    table(&[
        ("require \"date\"; if date :originalzone \"date\" \"hour\" \"10\" { discard; }", "discard"),
        ("require \"date\"; if date :zone \"+0000\" \"date\" \"time\" \"09:30:15\" { discard; }", "discard"),
        ("require \"date\"; if date :zone \"-0500\" \"date\" \"iso8601\" \"2026-12-04T04:30:15-05:00\" { discard; }", "discard"),
        ("require \"date\"; if date \"date\" \"zone\" \"+0100\" { discard; }", "discard"),
        ("require \"date\"; if date :zone \"+0000\" \"date\" \"weekday\" \"5\" { discard; }", "discard"),
        ("require \"date\"; if date :zone \"+0000\" \"date\" \"julian\" \"61378\" { discard; }", "discard"),
        ("require \"date\"; if date :zone \"+0000\" \"received\" \"std11\" \"Fri, 04 Dec 2026 09:00:00 +0000\" { discard; }", "discard"),
        ("require [\"date\", \"relational\"]; if currentdate :zone \"+0000\" :value \"ge\" \"date\" \"2026-12-01\" { discard; }", "discard"),
        ("require [\"index\"]; if header :index 2 :is \"to\" \"x\" { discard; }", "implicit keep"),
        ("require [\"index\"]; if address :index 1 :last :is \"to\" \"carol@example.org\" { discard; }", "discard"),
    ]);
}

#[test]
fn rfc5230_vacation() {
    let script = "require [\"vacation\", \"vacation-seconds\"]; vacation :seconds 600 :subject \"Away\" :from \"bob@example.net\" :addresses [\"bob@example.net\"] :handle \"h1\" \"I am away\";";
    let o = outcome_with(script, MSG, &mut TestEnv::default(), &env()).unwrap();
    assert!(o.implicit_keep);
    assert_eq!(
        o.actions,
        vec![Action::Vacation(Vacation {
            reason: "I am away".into(),
            subject: Some("Away".into()),
            from: Some("bob@example.net".into()),
            addresses: vec!["bob@example.net".into()],
            mime: false,
            handle: "h1".into(),
            period_seconds: 600,
            to: "alice@example.com".into(),
        })]
    );
    let a = outcome_with(
        "require \"vacation\"; vacation \"x\";",
        MSG,
        &mut TestEnv::default(),
        &env(),
    )
    .unwrap();
    let b = outcome_with(
        "require \"vacation\"; vacation :days 2 \"x\";",
        MSG,
        &mut TestEnv::default(),
        &env(),
    )
    .unwrap();
    let (Action::Vacation(a), Action::Vacation(b)) = (&a.actions[0], &b.actions[0]) else {
        panic!("not vacations");
    };
    assert_eq!(a.period_seconds, 7 * 86400);
    assert_eq!(b.period_seconds, 2 * 86400);
    assert_eq!(a.handle, b.handle, "same reason, same default handle");
    assert!(actions("require \"vacation\"; vacation \"a\"; vacation \"b\";").contains("conflicts"));
}

#[test]
fn vacation_should_reply_rules() {
    use vacation::{should_reply, NoReply};
    let me = vec!["bob@example.net".to_string()];
    let base = "From: a@example.com\r\nTo: Bob <bob@example.net>\r\nSubject: hi\r\n\r\nx\r\n";
    assert_eq!(should_reply(base.as_bytes(), "a@example.com", &me), Ok(()));
    assert_eq!(
        should_reply(base.as_bytes(), "", &me),
        Err(NoReply::NullSender)
    );
    assert_eq!(
        should_reply(base.as_bytes(), "MAILER-DAEMON@example.com", &me),
        Err(NoReply::SystemSender)
    );
    assert_eq!(
        should_reply(base.as_bytes(), "owner-list@example.com", &me),
        Err(NoReply::SystemSender)
    );
    assert_eq!(
        should_reply(base.as_bytes(), "BOB@example.net", &me),
        Err(NoReply::OwnMessage)
    );
    let cases = [
        (
            "Auto-Submitted: auto-replied\r\n",
            Err(NoReply::AutoSubmitted),
        ),
        ("Auto-Submitted: no\r\n", Ok(())),
        ("List-Id: <l.example.com>\r\n", Err(NoReply::MailingList)),
        ("Precedence: bulk\r\n", Err(NoReply::Precedence)),
    ];
    for (extra, want) in cases {
        let m = format!("{extra}{base}");
        assert_eq!(
            should_reply(m.as_bytes(), "a@example.com", &me),
            want,
            "{extra}"
        );
    }
    let other = "From: a@example.com\r\nTo: someone@example.net\r\n\r\nx\r\n";
    assert_eq!(
        should_reply(other.as_bytes(), "a@example.com", &me),
        Err(NoReply::NotAddressed)
    );
}

#[test]
fn rfc5293_editheader() {
    let o = outcome_with(
        "require [\"editheader\", \"variables\"]; addheader \"X-Sieve\" \"yes\"; addheader :last \"X-Last\" \"çà\"; deleteheader \"cc\"; deleteheader :index 1 :last \"to\"; deleteheader \"received\"; deleteheader :matches \"subject\" \"*1.0*\"; if header :is \"x-sieve\" \"yes\" { if not exists \"cc\" { discard; } }",
        MSG,
        &mut TestEnv::default(),
        &env(),
    )
    .unwrap();
    assert_eq!(o.actions, vec![Action::Discard]);
    let h = String::from_utf8(o.edited_header.clone().unwrap()).unwrap();
    assert!(h.starts_with("X-Sieve: yes\r\nReturn-Path:"), "{h}");
    assert!(h.ends_with("X-Last: =?UTF-8?B?w6fDoA==?=\r\n"), "{h}");
    assert!(!h.contains("Cc:"), "{h}");
    assert!(h.contains("Received:"), "protected: {h}");
    assert!(!h.contains("Subject:"), "{h}");
    assert!(!h.contains("To: Bob"), "the one To is the last: {h}");
    assert!(compile(
        "require \"editheader\"; addheader \"Bad Name\" \"x\";",
        &Extensions::all()
    )
    .is_err());
    let whole = String::from_utf8(o.edited_message(MSG.as_bytes()).unwrap()).unwrap();
    assert!(whole.starts_with("X-Sieve: yes\r\n"), "{whole}");
    assert!(
        whole.ends_with("\r\n\r\nHello Bob,\r\nthe new version is out. MAKE MONEY FAST.\r\n"),
        "{whole}"
    );
    let plain = outcome_with("keep;", MSG, &mut TestEnv::default(), &env()).unwrap();
    assert_eq!(plain.edited_header, None);
    assert_eq!(plain.edited_message(MSG.as_bytes()), None);
}

#[test]
fn rfc5235_spamtest() {
    table(&[
        ("require [\"spamtest\", \"relational\", \"comparator-i;ascii-numeric\"]; if spamtest :value \"ge\" :comparator \"i;ascii-numeric\" \"6\" { discard; }", "discard"),
        ("require [\"spamtestplus\", \"relational\", \"comparator-i;ascii-numeric\"]; if spamtest :percent :value \"gt\" :comparator \"i;ascii-numeric\" \"70\" { discard; }", "implicit keep"),
    ]);
}

#[test]
fn spam_scores_from_percent() {
    for (percent, value) in [
        (0, 1),
        (5, 1),
        (6, 2),
        (44, 5),
        (50, 6),
        (55, 6),
        (94, 9),
        (95, 10),
        (100, 10),
        (255, 10),
    ] {
        let s = SpamScore::from_percent(percent);
        assert_eq!(s.value, value, "{percent}%");
        assert_eq!(s.percent, percent.min(100));
    }
}

#[test]
fn rfc7352_duplicate() {
    let mut e = TestEnv::default();
    let script = "require \"duplicate\"; if duplicate { discard; }";
    assert_eq!(
        show(&outcome_with(script, MSG, &mut e, &env()).unwrap()),
        "implicit keep"
    );
    assert_eq!(
        show(&outcome_with(script, MSG, &mut e, &env()).unwrap()),
        "discard"
    );
    let by_header =
        "require \"duplicate\"; if duplicate :header \"subject\" :handle \"s\" { discard; }";
    assert_eq!(
        show(&outcome_with(by_header, MSG, &mut e, &env()).unwrap()),
        "implicit keep"
    );
    let no_id = "From: a@b.c\r\n\r\nx";
    assert_eq!(
        show(&outcome_with(script, no_id, &mut e, &env()).unwrap()),
        "implicit keep"
    );
    assert_eq!(
        show(&outcome_with(script, no_id, &mut e, &env()).unwrap()),
        "implicit keep"
    );
}

#[test]
fn rfc6609_include() {
    let mut e = TestEnv {
        scripts: vec![
            (false, "lib".into(), "require [\"include\", \"variables\", \"fileinto\"]; global \"box\"; fileinto \"${box}\"; return; discard;".into()),
            (true, "spam".into(), "require \"fileinto\"; fileinto \"Junk\";".into()),
            (false, "self".into(), "require \"include\"; include \"self\";".into()),
            (false, "broken".into(), "frob;".into()),
        ],
        ..TestEnv::default()
    };
    let mut go = |s: &str| match outcome_with(s, MSG, &mut e, &env()) {
        Ok(o) => show(&o),
        Err(x) => x,
    };
    assert_eq!(
        go("require [\"include\", \"variables\"]; global \"box\"; set \"box\" \"Lists\"; include \"lib\"; include :once \"lib\"; include :global \"spam\";"),
        "fileinto Lists; fileinto Junk"
    );
    assert_eq!(
        go("require \"include\"; include :optional \"nope\";"),
        "implicit keep"
    );
    assert!(go("require \"include\"; include \"nope\";").contains("not found"));
    assert!(go("require \"include\"; include \"self\";").contains("includes itself"));
    assert!(go("require \"include\"; include \"broken\";").contains("unknown command"));
    assert!(compile("require \"include\"; include \"../x\";", &Extensions::all()).is_err());
}

#[test]
fn rfc6609_include_stop_loops_and_depth() {
    let mut scripts = vec![
        (
            false,
            "stopper".to_string(),
            "require \"fileinto\"; fileinto \"S\"; stop;".to_string(),
        ),
        (
            false,
            "a".to_string(),
            "require \"include\"; include \"b\";".to_string(),
        ),
        (
            false,
            "b".to_string(),
            "require \"include\"; include \"a\";".to_string(),
        ),
    ];
    for i in 0..20 {
        scripts.push((
            false,
            format!("chain{i}"),
            format!("require \"include\"; include \"chain{}\";", i + 1),
        ));
    }
    scripts.push((false, "chain20".into(), "keep;".into()));
    let mut e = TestEnv {
        scripts,
        ..TestEnv::default()
    };
    let mut go = |s: &str| match outcome_with(s, MSG, &mut e, &env()) {
        Ok(o) => show(&o),
        Err(x) => x,
    };
    assert_eq!(
        go("require [\"include\", \"fileinto\"]; include \"stopper\"; fileinto \"After\";"),
        "fileinto S"
    );
    assert!(go("require \"include\"; include \"a\";").contains("includes itself"));
    assert!(go("require \"include\"; include \"chain0\";").contains("nesting deeper than 10"));
    assert!(go("require \"include\"; include \"chain12\";").contains("keep"));
}

#[test]
fn capability_string_names_everything() {
    let caps = Extensions::all().capability_string();
    for name in [
        "fileinto",
        "vacation-seconds",
        "comparator-i;ascii-numeric",
        "editheader",
        "include",
    ] {
        assert!(caps.split(' ').any(|c| c == name), "{caps}");
    }
    assert_eq!(
        Extensions::parse("fileinto, body")
            .unwrap()
            .capability_string(),
        "fileinto body"
    );
    assert!(Extensions::parse("nope").is_err());
}

#[test]
fn work_is_bounded() {
    // 200 references to a 4 KiB variable: each expansion is cut at the string limit, and the
    // work budget ends the run instead of copying gigabytes.
    let refs = "${a}".repeat(200);
    let script = format!(
        "require \"variables\"; set \"a\" \"{}\"; {}",
        "x".repeat(4000),
        format!("if string :contains \"{refs}\" \"y\" {{ discard; }} ").repeat(1000)
    );
    let s = compile(&script, &Extensions::all()).unwrap();
    let e = env();
    let input = Input {
        envelope: &e,
        message: MSG.as_bytes(),
        spam_score: None,
        now: (0, 0),
        subaddress_separator: '+',
    };
    let start = std::time::Instant::now();
    let budget = Budget {
        max_work: 10_000_000,
        max_variable_len: 64 << 10,
        ..Budget::default()
    };
    let got = run(&s, &input, &mut NoEnvironment, &budget);
    assert_eq!(got, Err(RuntimeError::TooMuchWork(10_000_000)));
    assert!(start.elapsed().as_secs() < 10);
    // A wildcard pattern built to be slow on a long value runs out of work, not of time.
    let value = "a".repeat(60_000);
    let key = format!("*{}b", "a".repeat(3000));
    let script = format!(
        "require \"variables\"; set \"v\" \"{value}\"; if string :matches \"${{v}}\" \"{key}\" {{ discard; }} keep;"
    );
    let s = compile(&script, &Extensions::all()).unwrap();
    let got = run(&s, &input, &mut NoEnvironment, &budget);
    assert_eq!(got, Err(RuntimeError::TooMuchWork(10_000_000)));
}

#[test]
fn scripts_can_be_shared_between_threads() {
    fn shareable<T: Send + Sync + Clone>() {}
    shareable::<Script>();
    shareable::<Outcome>();
    shareable::<CompileError>();
    shareable::<RuntimeError>();
}

#[test]
fn lexer_edge_cases() {
    let all = Extensions::all();
    for (script, ok) in [
        ("/* unterminated", false),
        ("keep; # comment without newline", true),
        ("if size :over 99999999999999999999 { }", false),
        ("if size :over 18446744073709551615G { }", false),
        ("if size :over 1G { }", true),
        ("KEEP;", true),
        ("if HEADER :CONTAINS \"Subject\" \"x\" { Discard; }", true),
        ("if true { keep; ", false),
        ("keep; }", false),
        ("redirect [\"a@b.c\"", false),
        ("require \"variables\"; set \"a\" text:\nno end", false),
        (
            "require \"variables\"; set \"a\" text: # comment\nx\n.\n;",
            true,
        ),
        (
            "require \"variables\"; set \"a\" text: junk\nx\n.\n;",
            false,
        ),
        ("@", false),
        ("require [\"fileinto\",];", false),
        ("if anyof() { }", false),
        ("if not { }", false),
        ("if true false { }", false),
    ] {
        assert_eq!(compile(script, &all).is_ok(), ok, "{script}");
    }
}

#[test]
fn envelope_orig_to_is_the_original_recipient() {
    let script = "require [\"envelope\", \"fileinto\"];\n\
        if envelope :is \"to\" \"sales@example.net\" { fileinto \"To-Sales\"; }\n\
        if envelope :is \"orig_to\" \"old@example.org\" { fileinto \"Orig-Old\"; }\n\
        if envelope :domain \"orig_to\" \"example.net\" { fileinto \"Orig-Here\"; }\n";
    let run_with = |to: &str, orig: Option<&str>| {
        let e = Envelope {
            to: to.into(),
            orig_to: orig.map(str::to_string),
            ..env()
        };
        let o = outcome_with(script, MSG, &mut TestEnv::default(), &e).unwrap();
        o.actions
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("|")
    };
    // Without an ORCPT, orig_to is the RCPT TO.
    assert_eq!(
        run_with("sales@example.net", None),
        "fileinto To-Sales|fileinto Orig-Here"
    );
    assert_eq!(
        run_with("sales@example.net", Some("old@example.org")),
        "fileinto To-Sales|fileinto Orig-Old"
    );
    let err = compile(
        "require \"envelope\"; if envelope \"final_to\" \"x\" { keep; }",
        &Extensions::all(),
    )
    .unwrap_err();
    assert!(err.message.contains("unknown envelope part"), "{err}");
}
