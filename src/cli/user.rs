//! `postern user add/passwd/del/ls`.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

use super::args::UserCommand;
use super::{exit, load_config, CliResult, Failure};
use crate::store::users::{self, PasswordKind, Users, UsersError};

pub fn user(config_flag: Option<&Path>, cmd: UserCommand) -> CliResult {
    let config = load_config(config_flag)?;
    let path = &config.paths.users;
    let result = match cmd {
        UserCommand::Add {
            user,
            password_stdin,
            shared_secret,
            ntlm,
            system,
        } => {
            if system {
                users::add_system(path, &user)
            } else {
                let pw = read_password(password_stdin)?;
                warn_ntlm(ntlm);
                users::add_with(path, &user, &pw, shared_secret, ntlm)
            }
        }
        UserCommand::Passwd {
            user,
            password_stdin,
            shared_secret,
            ntlm,
            pop3,
            system,
        } => {
            let pw = read_password(password_stdin)?;
            warn_ntlm(ntlm);
            let kind = if pop3 {
                PasswordKind::Pop3Override { shared_secret }
            } else if system {
                PasswordKind::Extras {
                    shared_secret,
                    ntlm,
                }
            } else {
                PasswordKind::Login {
                    shared_secret,
                    ntlm,
                }
            };
            users::set_password(path, &user, &pw, kind)
        }
        UserCommand::Del { user } => users::delete(path, &user),
        UserCommand::Ls { json } => return list(path, json),
    };
    result.map_err(|e| {
        let code = match e {
            UsersError::NoSuchUser(_) => exit::NOUSER,
            UsersError::Exists(_) | UsersError::BadName(_) | UsersError::EmptyPassword => {
                exit::DATAERR
            }
            UsersError::Read { .. } | UsersError::Write { .. } => exit::IOERR,
            _ => exit::SOFTWARE,
        };
        Failure::new(code, e)
    })
}

fn list(path: &Path, json: bool) -> CliResult {
    let users = Users::load(path)?;
    let mut out = std::io::stdout().lock();
    if json {
        for u in users.iter() {
            let line = serde_json::json!({
                "name": u.name,
                "mail": u.mail,
                "shared_secret": u.shared_secret.is_some(),
                "pop3_password": u.pop3_password.is_some(),
                "ntlm": u.nt_hash.is_some(),
                "system": u.password.is_none(),
                "quota": u.quota,
            });
            writeln!(out, "{line}")?;
        }
    } else {
        for u in users.iter() {
            let mut flags = Vec::new();
            if !u.mail {
                flags.push("no-mail");
            }
            if u.shared_secret.is_some() {
                flags.push("shared-secret");
            }
            if u.nt_hash.is_some() {
                flags.push("ntlm");
            }
            if u.password.is_none() {
                flags.push("system");
            }
            if u.pop3_password.is_some() {
                flags.push("pop3-password");
            }
            writeln!(out, "{}\t{}", u.name, flags.join(","))?;
        }
    }
    Ok(())
}

/// `--ntlm` stores a hash anyone who reads it can log in with.
fn warn_ntlm(ntlm: bool) {
    if ntlm {
        eprintln!(
            "postern user: warning: the NT hash stored for NTLM is password-equivalent: whoever \
             reads the users file can log in as this user with NTLM (the file stays mode 0600)"
        );
    }
}

/// The password from stdin's first line (`--password-stdin`) or typed on the terminal.
fn read_password(from_stdin: bool) -> Result<String, Failure> {
    let stdin = std::io::stdin();
    if !from_stdin && !stdin.is_terminal() {
        return Err(Failure::new(
            exit::USAGE,
            anyhow::anyhow!("standard input is not a terminal: use --password-stdin"),
        ));
    }
    let ask = |prompt: &str| -> Result<String, Failure> {
        let echo_off = (!from_stdin).then(|| {
            eprint!("{prompt}");
            EchoOff::new()
        });
        let mut line = String::new();
        stdin.lock().read_line(&mut line)?;
        drop(echo_off);
        if !from_stdin {
            eprintln!();
        }
        Ok(line.trim_end_matches(['\n', '\r']).to_string())
    };
    let pw = ask("Password: ")?;
    // Typed on a terminal: twice, as passwd(1) asks.
    if !from_stdin && !pw.is_empty() && ask("Password again: ")? != pw {
        return Err(Failure::new(
            exit::DATAERR,
            anyhow::anyhow!("the passwords do not match; nothing changed"),
        ));
    }
    if pw.is_empty() {
        return Err(Failure::new(
            exit::DATAERR,
            anyhow::anyhow!("the password is empty"),
        ));
    }
    Ok(pw)
}

/// Turns terminal echo off while it lives.
struct EchoOff(Option<libc::termios>);

impl EchoOff {
    fn new() -> EchoOff {
        // SAFETY: tcgetattr/tcsetattr on fd 0 with a zeroed termios they fill in.
        unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(0, &mut t) != 0 {
                return EchoOff(None);
            }
            let saved = t;
            t.c_lflag &= !libc::ECHO;
            libc::tcsetattr(0, libc::TCSANOW, &t);
            EchoOff(Some(saved))
        }
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        if let Some(t) = self.0 {
            // SAFETY: restores the attributes read in `new`.
            unsafe {
                libc::tcsetattr(0, libc::TCSANOW, &t);
            }
        }
    }
}
