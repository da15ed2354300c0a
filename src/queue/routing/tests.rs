//! Table-driven routing tests: every example of seed 000 "Domains & Email Handlers" and the
//! scenarios, input recipient + config → expected route.

use super::*;
use std::path::Path;

const USERS: &str = r#"
[[user]]
name = "neil"
password = "x"
[[user]]
name = "bob"
password = "x"
[[user]]
name = "admin"
password = "x"
[[user]]
name = "off"
password = "x"
mail = false
"#;

fn users() -> Users {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("users.toml");
    std::fs::write(&path, USERS).expect("write");
    Users::load(&path).expect("users")
}

fn config(domains: &str) -> Config {
    let text = format!(
        "[server]\nhostname = \"mail.example.test\"\npostmaster = \"admin@example.test\"\n{domains}"
    );
    crate::config::parse(&text, Path::new("/")).expect("config")
}

fn local(u: &str) -> Result<Route, NoRoute> {
    Ok(Route::Local { user: u.into() })
}

fn remote(a: &str, server: Option<&str>) -> Result<Route, NoRoute> {
    let domain = a.rsplit_once('@').map(|(_, d)| d).unwrap_or_default();
    Ok(Route::Remote {
        address: a.into(),
        domain: domain.into(),
        server: server.map(str::to_string),
    })
}

fn check(c: &Config, table: &[(&str, Result<Route, NoRoute>)]) {
    let u = users();
    for (addr, want) in table {
        assert_eq!(&route(c, &u, addr), want, "{addr}");
    }
}

#[test]
fn hosted_here_bob_without_handler_is_his_mailbox() {
    let c = config("[[domain]]\nname = \"example.test\"\n");
    check(
        &c,
        &[
            ("bob@example.test", local("bob")),
            ("BOB@Example.Test", local("bob")),
            ("nobody@example.test", Err(NoRoute::NoSuchUser)),
            ("off@example.test", Err(NoRoute::NoSuchUser)),
            ("postmaster@example.test", local("admin")),
            (
                "x@elsewhere.test",
                Err(NoRoute::NotOurs {
                    domain: "elsewhere.test".into(),
                }),
            ),
            ("nodomain", Err(NoRoute::Malformed)),
            ("@example.test", Err(NoRoute::Malformed)),
        ],
    );
}

#[test]
fn hosted_here_accept_unhandled_off_only_handlers() {
    let c = config(
        "[[domain]]\nname = \"example.test\"\naccept_unhandled = false\n\
         [[domain.handler]]\nlocal = \"bob\"\nmailbox = \"bob\"\n",
    );
    check(
        &c,
        &[
            ("bob@example.test", local("bob")),
            ("neil@example.test", Err(NoRoute::NoSuchUser)),
            ("postmaster@example.test", local("admin")),
        ],
    );
}

#[test]
fn neil_niel_neal_aliases_reach_neil() {
    let c = config(
        "[[domain]]\nname = \"example.test\"\n\
         [[domain.handler]]\nlocal = \"niel\"\nmailbox = \"neil\"\n\
         [[domain.handler]]\nlocal = \"neal\"\nmailbox = \"neil\"\n",
    );
    check(
        &c,
        &[
            ("neil@example.test", local("neil")),
            ("niel@example.test", local("neil")),
            ("NEAL@example.test", local("neil")),
            ("nail@example.test", Err(NoRoute::NoSuchUser)),
        ],
    );
}

#[test]
fn bob_left_and_is_forwarded_to_his_new_address() {
    let c = config(
        "[[domain]]\nname = \"example.test\"\n\
         [[domain.handler]]\nlocal = \"bob\"\nforward = \"bob@hotmail.test\"\n",
    );
    check(
        &c,
        &[
            ("bob@example.test", remote("bob@hotmail.test", None)),
            ("neil@example.test", local("neil")),
        ],
    );
}

#[test]
fn redirect_all_to_neil_instead_of_bob_unless_a_handler_overrides() {
    let c = config(
        "[[domain]]\nname = \"example.test\"\nredirect = \"neil\"\n\
         [[domain.handler]]\nlocal = \"admin\"\nmailbox = \"admin\"\n",
    );
    check(
        &c,
        &[
            ("bob@example.test", local("neil")),
            ("anyone@example.test", local("neil")),
            ("admin@example.test", local("admin")),
        ],
    );
    // A remote domain redirects to an address.
    let c = config(
        "[[domain]]\nname = \"branch.test\"\nhosted = \"remote\"\nredirect = \"all@hq.test\"\n",
    );
    check(&c, &[("bob@branch.test", remote("all@hq.test", None))]);
}

#[test]
fn remote_domain_accepts_everything_and_forwards_it() {
    let c = config(
        "[[domain]]\nname = \"branch.test\"\nhosted = \"remote\"\nserver = \"branch\"\n\
         [[remote.server]]\nname = \"branch\"\nhost = \"mail.branch.test\"\n",
    );
    check(
        &c,
        &[(
            "anyone@branch.test",
            remote("anyone@branch.test", Some("branch")),
        )],
    );
}

#[test]
fn scenario_3_remote_domain_with_reception_off_collects_into_handlers_only() {
    // POP-collected mail for a domain hosted at the ISP: only handler addresses, to local boxes.
    let c = config(
        "[[domain]]\nname = \"isp.test\"\nhosted = \"remote\"\naccept_unhandled = false\n\
         [[domain.handler]]\nlocal = \"bob\"\nmailbox = \"bob\"\n\
         [[domain.handler]]\nlocal = \"jim\"\nmailbox = \"neil\"\n",
    );
    check(
        &c,
        &[
            ("bob@isp.test", local("bob")),
            ("jim@isp.test", local("neil")),
            ("stranger@isp.test", Err(NoRoute::NoSuchUser)),
            // postmaster is only implied for domains hosted here
            ("postmaster@isp.test", Err(NoRoute::NoSuchUser)),
        ],
    );
}

#[test]
fn scenario_5_provincial_office_handlers_go_through_its_server() {
    let c = config(
        "[[domain]]\nname = \"qbik.test\"\n\
         [[domain.handler]]\nlocal = \"jim\"\nforward = \"jim@qbik.test\"\nserver = \"provincial\"\n\
         [[remote.server]]\nname = \"provincial\"\nhost = \"mail.provincial.test\"\n",
    );
    check(
        &c,
        &[
            ("jim@qbik.test", remote("jim@qbik.test", Some("provincial"))),
            ("bob@qbik.test", local("bob")),
        ],
    );
}

#[test]
fn forwards_into_our_own_domains_are_routed_again_and_loops_refused() {
    let c = config(
        "[[domain]]\nname = \"example.test\"\n\
         [[domain]]\nname = \"old.test\"\naccept_unhandled = false\n\
         [[domain.handler]]\nlocal = \"sales\"\nforward = \"niel@example.test\"\n\
         [[domain.handler]]\nlocal = \"a\"\nforward = \"b@old.test\"\n\
         [[domain.handler]]\nlocal = \"b\"\nforward = \"a@old.test\"\n\
         [[domain.handler]]\nlocal = \"gone\"\nforward = \"nobody@example.test\"\n",
    );
    check(
        &c,
        &[
            ("sales@old.test", Err(NoRoute::NoSuchUser)), // niel has no handler in example.test
            ("a@old.test", Err(NoRoute::Loop)),
            ("gone@old.test", Err(NoRoute::NoSuchUser)),
        ],
    );
    let c = config(
        "[[domain]]\nname = \"example.test\"\n\
         [[domain]]\nname = \"old.test\"\n\
         [[domain.handler]]\nlocal = \"sales\"\nforward = \"neil@example.test\"\n",
    );
    check(&c, &[("sales@old.test", local("neil"))]);
}

#[test]
fn handler_restrictions_and_copy_to() {
    let c = config(
        "[[domain]]\nname = \"example.test\"\n\
         [[domain.handler]]\nlocal = \"bob\"\nmax_size = \"1K\"\nblock_attachments = true\ncopy_to = \"admin@example.test\"\n\
         [[domain.handler]]\nlocal = \"admin\"\ncopy_to = \"bob@example.test\"\n",
    );
    let u = users();
    let r = resolve(&c, &u, "bob@example.test").expect("route");
    assert_eq!(r.route, Route::Local { user: "bob".into() });
    let h = r.handler.expect("handler");
    assert!(h.block_attachments);
    assert_eq!(h.max_size.map(|s| s.0), Some(1024));
    // Copies (and the envelope smtpd, sendmail and collect build) are in
    // policy::restrictions::envelope.
}

#[test]
fn bare_postmaster_own_address_literals_and_quoted_local_parts() {
    let c = config(
        "[[domain]]\nname = \"example.test\"\n\
         [[domain.handler]]\nlocal = \"sales\"\nmailbox = \"neil\"\n\
         [[listener]]\nname = \"smtp\"\nprotocol = \"smtp\"\naddress = \"192.0.2.25:25\"\n\
         [[listener]]\nname = \"v6\"\nprotocol = \"smtp\"\naddress = \"[2001:db8::25]:25\"\n",
    );
    let foreign = |d: &str| {
        Err(NoRoute::NotOurs {
            domain: d.to_string(),
        })
    };
    check(
        &c,
        &[
            // RFC 5321 §4.1.1.3: RCPT TO:<Postmaster> without a domain.
            ("postmaster", local("admin")),
            ("PostMaster", local("admin")),
            ("Postmaster@EXAMPLE.TEST", local("admin")),
            ("postmaster@[192.0.2.25]", local("admin")),
            ("bob@[192.0.2.25]", local("bob")),
            ("bob@[IPv6:2001:db8::25]", local("bob")),
            // handlers belong to domains, not to the server's address
            ("sales@[192.0.2.25]", Err(NoRoute::NoSuchUser)),
            ("nobody@[192.0.2.25]", Err(NoRoute::NoSuchUser)),
            ("bob@[192.0.2.26]", foreign("[192.0.2.26]")),
            ("postmaster@[127.0.0.1]", foreign("[127.0.0.1]")),
            ("\"bob\"@example.test", local("bob")),
            ("\"sa\\les\"@example.test", local("neil")),
            (
                "\"bob@elsewhere.test\"@example.test",
                Err(NoRoute::NoSuchUser),
            ),
            ("bob%elsewhere.test@example.test", Err(NoRoute::NoSuchUser)),
            ("elsewhere.test!bob@example.test", Err(NoRoute::NoSuchUser)),
            ("bob", Err(NoRoute::Malformed)),
        ],
    );
    // Listening on every address: loopback literals are ours.
    let c = config(
        "[[domain]]\nname = \"example.test\"\n\
         [[listener]]\nname = \"smtp\"\nprotocol = \"smtp\"\naddress = \"0.0.0.0:25\"\n",
    );
    check(
        &c,
        &[
            ("postmaster@[127.0.0.1]", local("admin")),
            ("bob@[192.0.2.25]", foreign("[192.0.2.25]")),
        ],
    );
}

#[test]
fn postmaster_goes_where_the_configured_address_goes() {
    // The configured postmaster has a handler: every hosted domain's postmaster follows it.
    let c = crate::config::parse(
        "[server]\nhostname = \"mail.example.test\"\npostmaster = \"postmaster@example.test\"\n\
         [[domain]]\nname = \"example.test\"\n\
         [[domain.handler]]\nlocal = \"postmaster\"\nmailbox = \"neil\"\n\
         [[domain]]\nname = \"other.test\"\n",
        Path::new("/"),
    )
    .expect("config");
    check(
        &c,
        &[
            ("postmaster@example.test", local("neil")),
            ("postmaster@other.test", local("neil")),
            ("postmaster", local("neil")),
        ],
    );
    // Hosted elsewhere: forwarded there, even bare.
    let c = crate::config::parse(
        "[server]\nhostname = \"mail.example.test\"\npostmaster = \"hostmaster@isp.test\"\n\
         [[domain]]\nname = \"example.test\"\n",
        Path::new("/"),
    )
    .expect("config");
    check(
        &c,
        &[
            ("postmaster", remote("hostmaster@isp.test", None)),
            (
                "postmaster@example.test",
                remote("hostmaster@isp.test", None),
            ),
        ],
    );
}

fn with_aliases(domains: &str, aliases: &str) -> Config {
    let mut c = config(domains);
    let table =
        crate::config::addresses::Aliases::parse(aliases, Path::new("/aliases"), &mut |_| {
            Ok("neil\nbob\n".into())
        })
        .expect("aliases");
    c.addresses.table = table.with_defaults(&c.server.postmaster);
    c
}

fn expanded(c: &Config, addr: &str) -> Vec<String> {
    expand(c, &users(), addr)
}

#[test]
fn aliases_expand_recursively_once_each_and_stop_loops() {
    let c = with_aliases(
        "[[domain]]\nname = \"example.test\"\n[[domain]]\nname = \"other.test\"\n",
        "staff: neil, bob, team\nteam: :include:/lists/team, far@elsewhere.test\n\
         loopa: loopb\nloopb: loopa\nneil: neil, neil@elsewhere.test\n",
    );
    assert_eq!(
        expanded(&c, "staff@example.test"),
        [
            "neil@example.test",
            "neil@elsewhere.test",
            "bob@example.test",
            "far@elsewhere.test"
        ]
    );
    // The alias applies to every domain hosted here; a target without a domain takes the
    // alias's domain.
    assert_eq!(
        expanded(&c, "STAFF@other.test")[..2],
        ["neil@other.test", "neil@elsewhere.test"]
    );
    // A loop ends at the address that closes it; it is routed without the aliases.
    assert_eq!(expanded(&c, "loopa@example.test"), ["loopa@example.test"]);
    assert_eq!(
        route_expanded(&c, &users(), "loopa@example.test"),
        Err(NoRoute::NoSuchUser)
    );
    // An alias naming itself reaches the mailbox of that name.
    assert_eq!(
        route_expanded(&c, &users(), "neil@example.test"),
        local("neil")
    );
    assert!(matches!(
        route(&c, &users(), "staff@example.test"),
        Ok(Route::Alias { .. })
    ));
    // Not an alias: itself.
    assert_eq!(expanded(&c, "bob@example.test"), ["bob@example.test"]);
}

#[test]
fn default_aliases_go_to_the_postmaster_unless_a_user_has_the_name() {
    let c = with_aliases("[[domain]]\nname = \"example.test\"\n", "");
    for name in ["root", "MAILER-DAEMON", "abuse"] {
        assert_eq!(
            expanded(&c, &format!("{name}@example.test")),
            ["admin@example.test"],
            "{name}"
        );
    }
    let c = with_aliases("[[domain]]\nname = \"example.test\"\n", "root: bob\n");
    assert_eq!(expanded(&c, "root@example.test"), ["bob@example.test"]);
}

#[test]
fn alias_domains_limit_where_aliases_apply() {
    let mut c = with_aliases(
        "[[domain]]\nname = \"example.test\"\n[[domain]]\nname = \"other.test\"\n",
        "sales: bob\n",
    );
    c.addresses.alias_domains = vec!["other.test".into()];
    assert_eq!(expanded(&c, "sales@other.test"), ["bob@other.test"]);
    assert_eq!(
        route(&c, &users(), "sales@example.test"),
        Err(NoRoute::NoSuchUser)
    );
}

#[test]
fn plus_addressing_reaches_the_user_and_keeps_the_address() {
    let mut c = with_aliases(
        "[[domain]]\nname = \"example.test\"\n\
         [[domain.handler]]\nlocal = \"sales\"\nmailbox = \"neil\"\n",
        "staff: bob\n",
    );
    check(
        &c,
        &[
            ("bob+lists@example.test", local("bob")),
            ("sales+web@example.test", local("neil")),
            ("nobody+x@example.test", Err(NoRoute::NoSuchUser)),
            ("+x@example.test", Err(NoRoute::NoSuchUser)),
        ],
    );
    assert_eq!(expanded(&c, "staff+x@example.test"), ["bob@example.test"]);
    c.addresses.recipient_delimiter = "-".into();
    check(
        &c,
        &[
            ("bob-lists@example.test", local("bob")),
            ("bob+lists@example.test", Err(NoRoute::NoSuchUser)),
        ],
    );
    c.addresses.recipient_delimiter = String::new();
    check(&c, &[("bob-lists@example.test", Err(NoRoute::NoSuchUser))]);
}

#[test]
fn postmaster_of_every_hosted_domain_beats_a_redirect() {
    let c = config(
        "[[domain]]\nname = \"example.test\"\n\
         [[domain]]\nname = \"catch.test\"\nredirect = \"neil\"\n",
    );
    check(
        &c,
        &[
            ("postmaster@catch.test", local("admin")),
            ("PostMaster@catch.test", local("admin")),
            ("anything@catch.test", local("neil")),
        ],
    );
}

#[test]
fn with_no_domain_hosted_the_host_name_is_local() {
    let c = config("[[domain]]\nname = \"elsewhere.test\"\nhosted = \"remote\"\n");
    assert_eq!(c.origin(), "mail.example.test");
    check(
        &c,
        &[
            ("bob@mail.example.test", local("bob")),
            ("bob+x@mail.example.test", local("bob")),
            ("nobody@mail.example.test", Err(NoRoute::NoSuchUser)),
        ],
    );
    assert_eq!(
        expand(&c, &users(), "root@mail.example.test"),
        ["admin@example.test"]
    );
}
