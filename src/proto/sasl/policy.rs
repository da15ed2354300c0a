//! Per-method availability (SPEC §4): `deny`, `allow`, or `tls` (only on an encrypted connection).

use super::Mechanism;
use serde::{Deserialize, Serialize};

/// When an authentication method may be used.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Availability {
    /// Never offered, always refused.
    Deny,
    /// Offered on every connection.
    Allow,
    /// Offered only once the connection is encrypted (STARTTLS done, or implicit TLS).
    Tls,
}

/// Whether a method with availability `avail` is offered (and accepted) on this connection.
pub fn mechanism_offered(avail: Availability, tls_active: bool) -> bool {
    match avail {
        Availability::Deny => false,
        Availability::Allow => true,
        Availability::Tls => tls_active,
    }
}

/// Why a method may not be used on this connection (SMTP tells them apart: 504 5.5.4 versus
/// 538 5.7.11).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MethodRefusal {
    /// The method is set to `deny`.
    #[error("authentication method not available")]
    Denied,
    /// The method is set to `tls` and the connection is not encrypted.
    #[error("encryption required for this authentication method")]
    NeedsTls,
}

/// Checks availability `avail` on this connection, saying why not when it is refused.
pub fn check_availability(avail: Availability, tls_active: bool) -> Result<(), MethodRefusal> {
    match avail {
        Availability::Deny => Err(MethodRefusal::Denied),
        Availability::Tls if !tls_active => Err(MethodRefusal::NeedsTls),
        Availability::Allow | Availability::Tls => Ok(()),
    }
}

/// Availability of each SASL mechanism for one protocol, as a config table
/// (`plain = "tls"`, `cram_md5 = "allow"` …). Plaintext mechanisms default to `tls`.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct MethodPolicy {
    /// PLAIN (default `tls`).
    pub plain: Availability,
    /// LOGIN (default `tls`).
    pub login: Availability,
    /// CRAM-MD5 (default `allow`; works only for users with a shared secret).
    pub cram_md5: Availability,
    /// SCRAM-SHA-256 (default `allow`).
    pub scram_sha256: Availability,
    /// NTLM (default `deny`; works for users with a stored NT hash, or through `ntlm_auth`).
    pub ntlm: Availability,
}

/// What the user store can serve, beyond plaintext passwords (seed "Understanding WinGate mail
/// security": a method the user database cannot check is not offered).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoreCapabilities {
    /// Some user has a shared secret (the second-chance secret of CRAM-MD5 and APOP).
    pub shared_secrets: bool,
    /// File users exist as a source (SCRAM verifiers live only in the users file).
    pub scram: bool,
    /// Some user has an NT hash, or Samba's `ntlm_auth` verifies system users.
    pub ntlm: bool,
}

impl Default for MethodPolicy {
    fn default() -> Self {
        MethodPolicy {
            plain: Availability::Tls,
            login: Availability::Tls,
            cram_md5: Availability::Allow,
            scram_sha256: Availability::Allow,
            ntlm: Availability::Deny,
        }
    }
}

impl MethodPolicy {
    /// Every mechanism denied (no AUTH at all).
    pub const NONE: MethodPolicy = MethodPolicy {
        plain: Availability::Deny,
        login: Availability::Deny,
        cram_md5: Availability::Deny,
        scram_sha256: Availability::Deny,
        ntlm: Availability::Deny,
    };

    /// This policy for a user store with `caps`: a mechanism the store cannot serve is neither
    /// offered nor accepted.
    pub fn for_store(self, caps: StoreCapabilities) -> MethodPolicy {
        let deny_unless = |ok: bool, a: Availability| if ok { a } else { Availability::Deny };
        MethodPolicy {
            cram_md5: deny_unless(caps.shared_secrets, self.cram_md5),
            scram_sha256: deny_unless(caps.scram, self.scram_sha256),
            ntlm: deny_unless(caps.ntlm, self.ntlm),
            ..self
        }
    }

    /// This policy for a user store that can (`secrets`) or cannot serve CRAM-MD5: without a
    /// single shared secret stored, CRAM-MD5 is neither offered nor accepted.
    pub fn with_shared_secrets(self, secrets: bool) -> MethodPolicy {
        if secrets {
            return self;
        }
        MethodPolicy {
            cram_md5: Availability::Deny,
            ..self
        }
    }

    /// The configured availability of `mech`.
    pub fn availability(&self, mech: Mechanism) -> Availability {
        match mech {
            Mechanism::Plain => self.plain,
            Mechanism::Login => self.login,
            Mechanism::CramMd5 => self.cram_md5,
            Mechanism::ScramSha256 => self.scram_sha256,
            Mechanism::Ntlm => self.ntlm,
        }
    }

    /// Whether `mech` may be used on this connection (advertised, and accepted if tried).
    pub fn allows(&self, mech: Mechanism, tls_active: bool) -> bool {
        mechanism_offered(self.availability(mech), tls_active)
    }

    /// Like [`MethodPolicy::allows`], saying why a refused mechanism is refused.
    pub fn check(&self, mech: Mechanism, tls_active: bool) -> Result<(), MethodRefusal> {
        check_availability(self.availability(mech), tls_active)
    }

    /// The mechanisms to advertise on this connection, strongest first. Empty means the server
    /// advertises no AUTH at all.
    pub fn offered(&self, tls_active: bool) -> Vec<Mechanism> {
        Mechanism::ALL
            .into_iter()
            .filter(|mech| self.allows(*mech, tls_active))
            .collect()
    }

    /// The advertised list as one space-separated string (`SCRAM-SHA-256 CRAM-MD5 …`).
    pub fn offered_names(&self, tls_active: bool) -> String {
        let names: Vec<&str> = self.offered(tls_active).iter().map(|m| m.name()).collect();
        names.join(" ")
    }
}

/// Availability of POP3's own login commands (next to its SASL [`MethodPolicy`]).
/// `user_pass` is a plaintext method and defaults to `tls`; IMAP's LOGIN command is the same
/// kind of method and may use the same field shape.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct Pop3Methods {
    /// USER/PASS (default `tls`).
    pub user_pass: Availability,
    /// APOP (default `allow`; works only for users with a shared secret).
    pub apop: Availability,
}

impl Pop3Methods {
    /// These methods for a user store with `caps` (APOP needs a shared secret).
    pub fn for_store(self, caps: StoreCapabilities) -> Pop3Methods {
        self.with_shared_secrets(caps.shared_secrets)
    }

    /// These methods for a user store that can (`secrets`) or cannot serve APOP.
    pub fn with_shared_secrets(self, secrets: bool) -> Pop3Methods {
        if secrets {
            return self;
        }
        Pop3Methods {
            apop: Availability::Deny,
            ..self
        }
    }
}

impl Default for Pop3Methods {
    fn default() -> Self {
        Pop3Methods {
            user_pass: Availability::Tls,
            apop: Availability::Allow,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Availability::{Allow, Deny, Tls};
    use Mechanism::{CramMd5, Login, Plain, ScramSha256};

    #[test]
    fn availability_table() {
        let cases = [
            (Deny, false, false),
            (Deny, true, false),
            (Allow, false, true),
            (Allow, true, true),
            (Tls, false, false),
            (Tls, true, true),
        ];
        for (avail, tls, want) in cases {
            assert_eq!(mechanism_offered(avail, tls), want, "{avail:?} tls={tls}");
            assert_eq!(
                check_availability(avail, tls).is_ok(),
                want,
                "{avail:?} tls={tls}"
            );
        }
        let policy = MethodPolicy {
            cram_md5: Deny,
            ..MethodPolicy::default()
        };
        assert_eq!(policy.check(Plain, false), Err(MethodRefusal::NeedsTls));
        assert_eq!(policy.check(Plain, true), Ok(()));
        assert_eq!(policy.check(CramMd5, true), Err(MethodRefusal::Denied));
        assert_eq!(policy.check(ScramSha256, false), Ok(()));
    }

    #[test]
    fn defaults_hide_plaintext_without_tls() {
        let policy = MethodPolicy::default();
        assert_eq!(policy.offered(false), vec![ScramSha256, CramMd5]);
        assert_eq!(
            policy.offered(true),
            vec![ScramSha256, CramMd5, Plain, Login]
        );
        assert_eq!(
            policy.offered_names(true),
            "SCRAM-SHA-256 CRAM-MD5 PLAIN LOGIN"
        );
        assert!(!policy.allows(Plain, false));
        // No shared secret stored: no CRAM-MD5, no APOP.
        assert_eq!(
            policy.with_shared_secrets(false).offered(true),
            vec![ScramSha256, Plain, Login]
        );
        assert_eq!(policy.with_shared_secrets(true), policy);
        assert_eq!(Pop3Methods::default().with_shared_secrets(false).apop, Deny);
        assert!(policy.allows(Plain, true));
        let pop3 = Pop3Methods::default();
        assert_eq!((pop3.user_pass, pop3.apop), (Tls, Allow));
    }

    /// The seed "Understanding WinGate mail security", one row per scenario: which methods a
    /// server offers (after TLS) for each user database.
    #[test]
    fn seed_method_availability_per_user_database() {
        use Mechanism::Ntlm;
        let all = MethodPolicy {
            ntlm: Allow,
            ..MethodPolicy::default()
        };
        let pop3 = Pop3Methods::default();
        #[rustfmt::skip]
        let cases: &[(&str, StoreCapabilities, &[Mechanism], bool)] = &[
            ("own database, passwords only: no CRAM-MD5, no APOP, no NTLM",
             StoreCapabilities { shared_secrets: false, scram: true, ntlm: false },
             &[ScramSha256, Plain, Login], false),
            ("own database with shared secrets and NT hashes: everything",
             StoreCapabilities { shared_secrets: true, scram: true, ntlm: true },
             &[ScramSha256, CramMd5, Ntlm, Plain, Login], true),
            ("NT (system) database: plaintext methods and NTLM; SCRAM only for file users",
             StoreCapabilities { shared_secrets: false, scram: false, ntlm: true },
             &[Ntlm, Plain, Login], false),
            ("system database with a POP3 override password or shared secret as second chance",
             StoreCapabilities { shared_secrets: true, scram: false, ntlm: false },
             &[CramMd5, Plain, Login], true),
            ("system database without ntlm_auth or NT hashes: plaintext only",
             StoreCapabilities { shared_secrets: false, scram: false, ntlm: false },
             &[Plain, Login], false),
        ];
        for (scenario, caps, offered, apop) in cases {
            assert_eq!(
                all.for_store(*caps).offered(true),
                offered.to_vec(),
                "{scenario}"
            );
            assert_eq!(
                pop3.for_store(*caps).apop == Allow,
                *apop,
                "{scenario}: APOP"
            );
            // Plaintext methods stay behind TLS whatever the database.
            assert!(!all.for_store(*caps).allows(Plain, false), "{scenario}");
        }
        // NTLM is denied unless configured, whatever the store can do.
        let caps = StoreCapabilities {
            shared_secrets: true,
            scram: true,
            ntlm: true,
        };
        assert!(!MethodPolicy::default().for_store(caps).allows(Ntlm, true));
    }

    #[derive(Deserialize, Serialize, Debug, PartialEq)]
    struct Wrapper {
        auth: MethodPolicy,
        pop3: Pop3Methods,
    }

    #[test]
    fn serde_from_json_config() {
        let cases: &[(&str, Option<MethodPolicy>)] = &[
            (r#"{"auth":{},"pop3":{}}"#, Some(MethodPolicy::default())),
            (
                r#"{"auth":{"plain":"allow","cram_md5":"deny"},"pop3":{}}"#,
                Some(MethodPolicy {
                    plain: Allow,
                    cram_md5: Deny,
                    ..MethodPolicy::default()
                }),
            ),
            (r#"{"auth":{"plain":"sometimes"},"pop3":{}}"#, None),
            (r#"{"auth":{"plain":"TLS"},"pop3":{}}"#, None),
            (r#"{"auth":{"ntlm":"sometimes"},"pop3":{}}"#, None),
            (
                r#"{"auth":{"ntlm":"tls"},"pop3":{}}"#,
                Some(MethodPolicy {
                    ntlm: Tls,
                    ..MethodPolicy::default()
                }),
            ),
        ];
        for (text, want) in cases {
            let got = serde_json::from_str::<Wrapper>(text).ok().map(|w| w.auth);
            assert_eq!(got, *want, "{text}");
        }
        let pop3: Wrapper =
            serde_json::from_str(r#"{"auth":{},"pop3":{"user_pass":"allow","apop":"deny"}}"#)
                .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((pop3.pop3.user_pass, pop3.pop3.apop), (Allow, Deny));
        let text = serde_json::to_string(&MethodPolicy::default()).unwrap_or_default();
        assert_eq!(
            text,
            r#"{"plain":"tls","login":"tls","cram_md5":"allow","scram_sha256":"allow","ntlm":"deny"}"#
        );
    }
}
