//! `[auth]`: which login methods each protocol offers, and the failed-login limits (SPEC §4).
//!
//! ```toml
//! [auth]
//! max_failures = 3          # failed logins per connection before it is closed
//! failure_delay = "1s"      # delay before the first failure reply; doubles each time
//! max_failure_delay = "16s" # the delay never grows beyond this
//! address_failures = 10     # failed logins per address (IPv6: /64), across connections,
//! user_failures = 20        # and per user name, before a lockout
//! failure_window = "15m"    # how long failures count
//! lockout = "1m"            # the first lockout; doubles each time
//! max_lockout = "1h"
//! concurrent_checks = 0     # password checks at once (0: one per CPU)
//!
//! [auth.smtp]               # SASL mechanisms: "deny", "allow" or "tls"
//! plain = "tls"
//! login = "tls"
//! cram_md5 = "allow"
//! scram_sha256 = "allow"
//! ntlm = "deny"             # SASL NTLM (Outlook's SPA): "allow" or "tls" to offer it
//!
//! [auth.pop3]               # the same four, plus POP3's own commands
//! user_pass = "tls"
//! apop = "allow"
//!
//! [auth.imap]               # the same four, plus the IMAP LOGIN command
//! login_command = "tls"
//! ```
//!
//! Plaintext methods (PLAIN, LOGIN, USER/PASS, IMAP LOGIN) default to `tls`. The daemons ask
//! [`Auth::offered`] what to advertise and [`Auth::check`] whether a method tried may be used, so
//! a method is advertised exactly when it would be accepted.
//!
//! # Wiring a daemon (popd, imapd)
//!
//! - Advertise `config.auth.offered(protocol, tls)` (POP3 `CAPA` `SASL …`, IMAP `AUTH=…`), and
//!   again after STLS/STARTTLS with `tls = true`. POP3 `USER` in CAPA and the APOP banner only
//!   when [`Auth::check_command`] allows `Pop3UserPass` / `Pop3Apop`; IMAP `LOGINDISABLED` when
//!   it refuses `ImapLogin`.
//! - On `AUTH mech` / `AUTHENTICATE mech`: [`Auth::check`]; on `Ok(mech)` drive a
//!   [`crate::proto::sasl::Exchange`] (see the `sasl` module docs); on refusal answer `-ERR` / `NO`.
//! - Keep one [`Auth::failures`] per connection; on a credentials failure log the client address,
//!   sleep the verdict's delay, answer, and close when it says so. `src/server/smtp/auth.rs` is
//!   the SMTP example of all of this.

use serde::{Deserialize, Serialize};

use super::locate::Seg;
use super::{Protocol, Seconds};
use crate::proto::sasl::{
    check_availability, AuthFailures, Availability, LedgerPolicy, Mechanism, MethodPolicy,
    MethodRefusal, Pop3Methods,
};

/// The `[auth]` section.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Auth {
    /// Failed logins allowed on one connection; the connection is closed at this count.
    pub max_failures: u32,
    /// Delay before answering the first failed login; it doubles with each further one.
    pub failure_delay: Seconds,
    /// Upper bound of that delay.
    pub max_failure_delay: Seconds,
    /// Failed logins from one address (an IPv6 /64), across connections, before it is locked
    /// out (0: no limit; trusted networks are exempt).
    pub address_failures: u32,
    /// Failed logins for one user name, across connections and addresses, before it is locked
    /// out for addresses that never logged in as it (0: no limit).
    pub user_failures: u32,
    /// How long failures are remembered for those counts.
    pub failure_window: Seconds,
    /// The first lockout; each further one doubles.
    pub lockout: Seconds,
    /// The longest lockout.
    pub max_lockout: Seconds,
    /// Password checks (argon2id: ~19 MiB and ~40 ms each) running at once in one process;
    /// 0: one per CPU.
    pub concurrent_checks: usize,
    /// How long a password the stored hash accepted is known to the process without a new
    /// check (webmail logs in for every page); 0: every login is checked.
    pub remember_logins: Seconds,
    /// SMTP AUTH (smtp and submission listeners).
    pub smtp: MethodPolicy,
    /// POP3 AUTH, USER/PASS and APOP.
    pub pop3: Pop3Auth,
    /// IMAP AUTHENTICATE and LOGIN.
    pub imap: ImapAuth,
}

impl Default for Auth {
    fn default() -> Self {
        let ledger = LedgerPolicy::default();
        Auth {
            max_failures: AuthFailures::DEFAULT_LIMIT,
            failure_delay: Seconds(AuthFailures::DEFAULT_BASE_DELAY.as_secs()),
            max_failure_delay: Seconds(AuthFailures::DEFAULT_MAX_DELAY.as_secs()),
            address_failures: ledger.address_limit,
            user_failures: ledger.user_limit,
            failure_window: Seconds(ledger.window.as_secs()),
            lockout: Seconds(ledger.lockout.as_secs()),
            max_lockout: Seconds(ledger.max_lockout.as_secs()),
            concurrent_checks: 0,
            remember_logins: Seconds(300),
            smtp: MethodPolicy::default(),
            pop3: Pop3Auth::default(),
            imap: ImapAuth::default(),
        }
    }
}

/// `[auth.pop3]`: the SASL mechanisms of POP3 AUTH and POP3's own login commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Pop3Auth {
    pub plain: Availability,
    pub login: Availability,
    pub cram_md5: Availability,
    pub scram_sha256: Availability,
    /// NTLM (default `deny`).
    pub ntlm: Availability,
    /// USER/PASS (default `tls`).
    pub user_pass: Availability,
    /// APOP (default `allow`; only users with a shared secret can use it).
    pub apop: Availability,
}

impl Default for Pop3Auth {
    fn default() -> Self {
        let sasl = MethodPolicy::default();
        let own = Pop3Methods::default();
        Pop3Auth {
            plain: sasl.plain,
            login: sasl.login,
            cram_md5: sasl.cram_md5,
            scram_sha256: sasl.scram_sha256,
            ntlm: sasl.ntlm,
            user_pass: own.user_pass,
            apop: own.apop,
        }
    }
}

impl Pop3Auth {
    /// The SASL part, for POP3 AUTH.
    pub fn sasl(&self) -> MethodPolicy {
        MethodPolicy {
            plain: self.plain,
            login: self.login,
            cram_md5: self.cram_md5,
            scram_sha256: self.scram_sha256,
            ntlm: self.ntlm,
        }
    }

    /// USER/PASS and APOP.
    pub fn methods(&self) -> Pop3Methods {
        Pop3Methods {
            user_pass: self.user_pass,
            apop: self.apop,
        }
    }
}

/// `[auth.imap]`: the SASL mechanisms of IMAP AUTHENTICATE and the LOGIN command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ImapAuth {
    pub plain: Availability,
    pub login: Availability,
    pub cram_md5: Availability,
    pub scram_sha256: Availability,
    /// NTLM (default `deny`).
    pub ntlm: Availability,
    /// The LOGIN command (default `tls`; when not available, CAPABILITY says LOGINDISABLED).
    pub login_command: Availability,
}

impl Default for ImapAuth {
    fn default() -> Self {
        let sasl = MethodPolicy::default();
        ImapAuth {
            plain: sasl.plain,
            login: sasl.login,
            cram_md5: sasl.cram_md5,
            scram_sha256: sasl.scram_sha256,
            ntlm: sasl.ntlm,
            login_command: Availability::Tls,
        }
    }
}

impl ImapAuth {
    /// The SASL part, for AUTHENTICATE.
    pub fn sasl(&self) -> MethodPolicy {
        MethodPolicy {
            plain: self.plain,
            login: self.login,
            cram_md5: self.cram_md5,
            scram_sha256: self.scram_sha256,
            ntlm: self.ntlm,
        }
    }
}

/// A login method that is not a SASL mechanism.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// POP3 USER/PASS.
    Pop3UserPass,
    /// POP3 APOP.
    Pop3Apop,
    /// The IMAP LOGIN command.
    ImapLogin,
}

impl Auth {
    /// The SASL availability table of `protocol` (smtp and submission share one).
    pub fn sasl(&self, protocol: Protocol) -> MethodPolicy {
        match protocol {
            Protocol::Smtp | Protocol::Submission => self.smtp,
            Protocol::Pop3 => self.pop3.sasl(),
            // ManageSieve logins follow IMAP's rules (the same clients, the same passwords).
            Protocol::Imap | Protocol::Managesieve => self.imap.sasl(),
        }
    }

    /// The SASL mechanisms to advertise on a connection of `protocol` (EHLO AUTH, CAPA SASL,
    /// CAPABILITY AUTH=), strongest first; `tls` is whether the connection is encrypted now.
    pub fn offered(&self, protocol: Protocol, tls: bool) -> Vec<Mechanism> {
        self.sasl(protocol).offered(tls)
    }

    /// [`Auth::offered`] as names, the shape `smtp::Session::set_auth_mechanisms` takes.
    pub fn offered_names(&self, protocol: Protocol, tls: bool) -> Vec<String> {
        self.offered(protocol, tls)
            .iter()
            .map(|m| m.name().to_string())
            .collect()
    }

    /// Whether the mechanism named `name` may be used now; `Err(Denied)` for unknown names too.
    pub fn check(
        &self,
        protocol: Protocol,
        name: &str,
        tls: bool,
    ) -> Result<Mechanism, MethodRefusal> {
        let mech = Mechanism::from_name(name).ok_or(MethodRefusal::Denied)?;
        self.sasl(protocol).check(mech, tls)?;
        Ok(mech)
    }

    /// The availability of a non-SASL login command.
    pub fn command(&self, command: Command) -> Availability {
        match command {
            Command::Pop3UserPass => self.pop3.user_pass,
            Command::Pop3Apop => self.pop3.apop,
            Command::ImapLogin => self.imap.login_command,
        }
    }

    /// Whether a non-SASL login command may be used now (and is advertised: CAPA USER, the APOP
    /// banner, no LOGINDISABLED).
    pub fn check_command(&self, command: Command, tls: bool) -> Result<(), MethodRefusal> {
        check_availability(self.command(command), tls)
    }

    /// The failed-login budget across connections.
    pub fn ledger(&self) -> LedgerPolicy {
        LedgerPolicy {
            address_limit: self.address_failures,
            user_limit: self.user_failures,
            window: self.failure_window.duration(),
            lockout: self.lockout.duration(),
            max_lockout: self.max_lockout.duration().max(self.lockout.duration()),
        }
    }

    /// Password checks allowed at once.
    pub fn concurrent_checks(&self) -> usize {
        match self.concurrent_checks {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n,
        }
    }

    /// A fresh failed-login counter for one connection.
    pub fn failures(&self) -> AuthFailures {
        AuthFailures::with_delays(
            self.max_failures,
            self.failure_delay.duration(),
            self.max_failure_delay.duration(),
        )
    }
}

/// Semantic checks of `[auth]`; `problem` records one with its key path.
pub(super) fn check(auth: &Auth, mut problem: impl FnMut(&[Seg<'_>], String)) {
    use Seg::Key;
    if auth.max_failures == 0 {
        problem(
            &[Key("auth"), Key("max_failures")],
            "auth.max_failures must be at least 1".into(),
        );
    }
    if auth.max_failure_delay.0 < auth.failure_delay.0 {
        problem(
            &[Key("auth"), Key("max_failure_delay")],
            "auth.max_failure_delay must not be shorter than auth.failure_delay".into(),
        );
    }
    if auth.failure_delay.0 > 600 || auth.max_failure_delay.0 > 600 {
        problem(
            &[Key("auth"), Key("failure_delay")],
            "auth failure delays above 10 minutes only tie up connections".into(),
        );
    }
}

/// The problems [`check`] finds, for tests.
#[cfg(test)]
fn problems(auth: &Auth) -> Vec<super::Problem> {
    let mut out = Vec::new();
    check(auth, |_, message| {
        out.push(super::Problem {
            line: None,
            message,
        })
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Protocol::{Imap, Pop3, Smtp, Submission};
    use Availability::{Allow, Deny, Tls};

    fn parse(text: &str) -> Result<Auth, String> {
        #[derive(Deserialize)]
        struct Wrap {
            #[serde(default)]
            auth: Auth,
        }
        toml::from_str::<Wrap>(text)
            .map(|w| w.auth)
            .map_err(|e| e.message().to_string())
    }

    #[test]
    fn defaults_keep_plaintext_behind_tls() {
        let auth = parse("").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(auth, Auth::default());
        for protocol in [Smtp, Submission, Pop3, Imap] {
            assert_eq!(
                auth.offered_names(protocol, false),
                ["SCRAM-SHA-256", "CRAM-MD5"]
            );
            assert_eq!(
                auth.offered_names(protocol, true),
                ["SCRAM-SHA-256", "CRAM-MD5", "PLAIN", "LOGIN"]
            );
            assert_eq!(
                auth.check(protocol, "plain", false),
                Err(MethodRefusal::NeedsTls)
            );
            assert_eq!(auth.check(protocol, "PLAIN", true), Ok(Mechanism::Plain));
            assert_eq!(
                auth.check(protocol, "NTLM", true),
                Err(MethodRefusal::Denied)
            );
        }
        for cmd in [Command::Pop3UserPass, Command::ImapLogin] {
            assert_eq!(auth.check_command(cmd, false), Err(MethodRefusal::NeedsTls));
            assert_eq!(auth.check_command(cmd, true), Ok(()));
        }
        assert_eq!(auth.check_command(Command::Pop3Apop, false), Ok(()));
        let mut failures = auth.failures();
        let first = failures.record_failure();
        assert_eq!((first.delay.as_secs(), first.close), (1, false));
    }

    #[test]
    fn per_protocol_tables_are_independent() {
        let auth = parse(
            r#"
[auth]
max_failures = 5
failure_delay = "0s"
max_failure_delay = "0s"
[auth.smtp]
plain = "allow"
cram_md5 = "deny"
[auth.pop3]
user_pass = "allow"
apop = "deny"
scram_sha256 = "tls"
[auth.imap]
login_command = "deny"
login = "deny"
"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(auth.offered_names(Smtp, false), ["SCRAM-SHA-256", "PLAIN"]);
        assert_eq!(
            auth.check(Submission, "CRAM-MD5", true),
            Err(MethodRefusal::Denied)
        );
        assert_eq!(auth.offered_names(Pop3, false), ["CRAM-MD5"]);
        assert_eq!(auth.pop3.methods().user_pass, Allow);
        assert_eq!(auth.command(Command::Pop3Apop), Deny);
        assert_eq!(auth.imap.sasl().login, Deny);
        assert_eq!(auth.command(Command::ImapLogin), Deny);
        assert_eq!(auth.imap.plain, Tls);
        let mut failures = auth.failures();
        let verdicts: Vec<bool> = (0..5).map(|_| failures.record_failure().close).collect();
        assert_eq!(verdicts, [false, false, false, false, true]);
        assert!(problems(&auth).is_empty());
    }

    #[test]
    fn ntlm_is_offered_per_protocol_when_enabled() {
        let auth = parse("[auth.smtp]\nntlm = \"tls\"\n[auth.imap]\nntlm = \"allow\"\n")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            auth.check(Submission, "ntlm", false),
            Err(MethodRefusal::NeedsTls)
        );
        assert_eq!(auth.check(Smtp, "NTLM", true), Ok(Mechanism::Ntlm));
        assert_eq!(auth.check(Imap, "NTLM", false), Ok(Mechanism::Ntlm));
        assert_eq!(auth.check(Pop3, "NTLM", true), Err(MethodRefusal::Denied));
        assert_eq!(
            auth.offered_names(Smtp, true),
            ["SCRAM-SHA-256", "CRAM-MD5", "NTLM", "PLAIN", "LOGIN"]
        );
    }

    #[test]
    fn bad_values_are_refused() {
        for text in [
            "[auth.smtp]\nplain = \"maybe\"",
            "[auth.smtp]\nuser_pass = \"allow\"",
            "[auth.imap]\napop = \"allow\"",
            "[auth]\nntlm = \"allow\"",
            "[auth.smtp]\nntlm = \"yes\"",
            "[auth]\nmax_failures = -1",
        ] {
            assert!(parse(text).is_err(), "{text}");
        }
        let auth =
            parse("[auth]\nmax_failures = 0\nfailure_delay = \"5s\"\nmax_failure_delay = \"1s\"")
                .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(problems(&auth).len(), 2);
    }
}
