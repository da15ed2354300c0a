//! Samba's `ntlm_auth --helper-protocol=squid-2.5-ntlmssp` as the NTLM verifier of system users
//! (`[users.system] ntlm_auth`): one helper process per exchange, speaking its line protocol —
//! `YR <negotiate>` → `TT <challenge>`, then `KK <authenticate>` → `AF <user>` (authenticated),
//! `NA <reason>` (refused) or `BH <reason>` (broken helper); every message base64, the user
//! as `DOMAIN\\user`. Each answer
//! is awaited at most `ntlm_timeout`; a helper that does not answer is killed and the login
//! fails as temporarily unavailable.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

use base64::prelude::{Engine as _, BASE64_STANDARD};

use crate::proto::sasl::ntlm::NtlmRelay;

/// The longest line the helper may answer with.
const MAX_LINE: u64 = 64 * 1024;

/// One running helper.
pub struct NtlmAuthHelper {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    timeout: Duration,
}

impl NtlmAuthHelper {
    /// Starts `program --helper-protocol=squid-2.5-ntlmssp`.
    pub fn start(program: &Path, timeout: Duration) -> std::io::Result<NtlmAuthHelper> {
        let mut child = Command::new(program)
            .arg("--helper-protocol=squid-2.5-ntlmssp")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let stdin = child.stdin.take();
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| std::io::Error::other("no stdout of ntlm_auth"))?;
        let (tx, rx) = std::sync::mpsc::sync_channel(2);
        std::thread::Builder::new()
            .name("ntlm_auth".into())
            .spawn(move || {
                let mut reader = BufReader::new(stdout);
                loop {
                    let mut line = String::new();
                    match (&mut reader).take(MAX_LINE).read_line(&mut line) {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {
                            if tx.send(line.trim_end().to_string()).is_err() {
                                return;
                            }
                        }
                    }
                }
            })?;
        Ok(NtlmAuthHelper {
            child,
            stdin,
            lines: rx,
            timeout,
        })
    }

    /// Sends `verb base64(data)` and waits for one answer line.
    fn ask(&mut self, verb: &str, data: &[u8]) -> Option<String> {
        let stdin = self.stdin.as_mut()?;
        let line = format!("{verb} {}\n", BASE64_STANDARD.encode(data));
        if stdin
            .write_all(line.as_bytes())
            .and_then(|()| stdin.flush())
            .is_err()
        {
            return None;
        }
        match self.lines.recv_timeout(self.timeout) {
            Ok(answer) => Some(answer),
            Err(RecvTimeoutError::Timeout) => {
                crate::events::event("ntlm_auth_timeout")
                    .field("after", format!("{}s", self.timeout.as_secs()))
                    .emit();
                let _ = self.child.kill();
                None
            }
            Err(RecvTimeoutError::Disconnected) => None,
        }
    }
}

impl NtlmRelay for NtlmAuthHelper {
    fn challenge(&mut self, negotiate: &[u8]) -> Option<Vec<u8>> {
        let answer = self.ask("YR", negotiate)?;
        let b64 = answer.strip_prefix("TT ")?;
        BASE64_STANDARD.decode(b64.trim()).ok()
    }

    fn authenticate(&mut self, authenticate: &[u8]) -> Result<String, bool> {
        let answer = self.ask("KK", authenticate).ok_or(false)?;
        if let Some(user) = answer.strip_prefix("AF ") {
            // `DOMAIN\user`, as is.
            return Ok(user.trim().to_string());
        }
        if answer.starts_with("NA") {
            crate::events::event("ntlm_auth_refused")
                .field("reason", answer.get(3..).unwrap_or(""))
                .emit();
            return Err(true);
        }
        crate::events::event("ntlm_auth_failed")
            .field("answer", answer.chars().take(200).collect::<String>())
            .emit();
        Err(false)
    }
}

impl Drop for NtlmAuthHelper {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A relay whose successes count only for accounts that are mail users here (`[users.system]`
/// group, min_uid, root): Samba may know users this server does not serve.
pub struct AdmittedRelay {
    pub inner: Box<dyn NtlmRelay>,
    pub system: std::sync::Arc<crate::store::system::SystemAccounts>,
}

impl NtlmRelay for AdmittedRelay {
    fn challenge(&mut self, negotiate: &[u8]) -> Option<Vec<u8>> {
        self.inner.challenge(negotiate)
    }

    fn authenticate(&mut self, authenticate: &[u8]) -> Result<String, bool> {
        let user = self.inner.authenticate(authenticate)?;
        let name = user.rsplit_once('\\').map_or(user.as_str(), |(_, u)| u);
        if self.system.lookup(name).is_some() {
            Ok(name.to_string())
        } else {
            crate::events::event("ntlm_auth_not_a_mail_user")
                .field("user", &user)
                .emit();
            Err(true)
        }
    }
}

/// The helper `[users.system]` configures, started for one exchange.
pub fn relay(program: &Path, timeout: Duration) -> Option<Box<dyn NtlmRelay>> {
    match NtlmAuthHelper::start(program, timeout) {
        Ok(h) => Some(Box::new(h)),
        Err(e) => {
            crate::events::event("ntlm_auth_failed")
                .field("error", e)
                .emit();
            None
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// A stand-in helper speaking the line protocol (the real `ntlm_auth` is driven in
    /// tests/system_users.rs): answers each line with the next of `answers`, then hangs.
    fn script(dir: &Path, answers: &[&str]) -> std::path::PathBuf {
        let path = dir.join("helper");
        let mut text = String::from("#!/bin/sh\n");
        for a in answers {
            text.push_str(&format!("read line; printf '%s\\n' '{a}'\n"));
        }
        text.push_str("exec sleep 30\n");
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    #[test]
    fn the_line_protocol_and_its_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let tt = format!("TT {}", BASE64_STANDARD.encode(b"challenge"));
        type Case<'a> = (&'a [&'a str], Option<Result<&'a str, bool>>);
        let cases: &[Case<'_>] = &[
            (&[&tt, "AF DOM\\bob"], Some(Ok("DOM\\bob"))),
            (&[&tt, "NA NT_STATUS_LOGON_FAILURE"], Some(Err(true))),
            (&[&tt, "BH broken"], Some(Err(false))),
            (&[&tt], Some(Err(false))),
            (&["BH no"], None),
            (&[], None),
        ];
        for (answers, want) in cases {
            let program = script(dir.path(), answers);
            let mut h = NtlmAuthHelper::start(&program, Duration::from_secs(1)).unwrap();
            let started = std::time::Instant::now();
            let challenge = h.challenge(b"negotiate");
            let got = challenge.map(|c| {
                assert_eq!(c, b"challenge");
                h.authenticate(b"authenticate")
            });
            let want = want.map(|w| w.map(str::to_string));
            assert_eq!(got, want, "{answers:?}");
            assert!(started.elapsed() < Duration::from_secs(5), "{answers:?}");
        }
    }
}
