//! `postern sieve ls/put/get/activate/deactivate/rm/check`: users' Sieve scripts for the admin.

use std::io::{Read as _, Write as _};
use std::path::Path;

use anyhow::Context as _;

use super::args::SieveCommand;
use super::{exit, load_config, CliResult, Failure};
use crate::config::Config;
use crate::store::sieve::{Limits, ScriptError, Scripts};

pub fn sieve(config_flag: Option<&Path>, cmd: SieveCommand) -> CliResult {
    if let SieveCommand::Check { file } = &cmd {
        // Without a configuration file (a user checking a script): the default limits.
        let path = crate::config::resolve_path(config_flag);
        let settings = if path.exists() {
            load_config(config_flag)?.sieve
        } else {
            crate::config::sieve::Sieve::default()
        };
        let text = read(file, settings.max_script_size.0)?;
        crate::store::sieve::compile::check(&settings, &text)
            .map_err(|e| Failure::new(exit::DATAERR, anyhow::anyhow!("{}: {e}", file.display())))?;
        println!("{}: ok", file.display());
        return Ok(());
    }
    let config = load_config(config_flag)?;
    match cmd {
        SieveCommand::Check { .. } => Ok(()),
        SieveCommand::Ls { user } => {
            let scripts = scripts_of(&config, &user)?;
            let mut out = std::io::stdout().lock();
            for s in scripts.list().map_err(failure)? {
                let mark = if s.active { "*" } else { " " };
                writeln!(out, "{mark} {}", s.name)?;
            }
            Ok(())
        }
        SieveCommand::Put {
            user,
            name,
            file,
            activate,
        } => {
            let scripts = scripts_of(&config, &user)?;
            let text = read(&file, config.sieve.max_script_size.0)?;
            crate::store::sieve::valid_name(&name).map_err(failure)?;
            crate::store::sieve::compile::check(&config.sieve, &text).map_err(|e| {
                Failure::new(exit::DATAERR, anyhow::anyhow!("{}: {e}", file.display()))
            })?;
            scripts.put(&name, &text).map_err(failure)?;
            if activate {
                scripts.set_active(Some(&name)).map_err(failure)?;
            }
            scripts.match_owner();
            Ok(())
        }
        SieveCommand::Get { user, name } => {
            let text = scripts_of(&config, &user)?.get(&name).map_err(failure)?;
            std::io::stdout().lock().write_all(&text)?;
            Ok(())
        }
        SieveCommand::Activate { user, name, none } => {
            let scripts = scripts_of(&config, &user)?;
            match name.filter(|_| !none) {
                Some(name) => {
                    let text = scripts.get(&name).map_err(failure)?;
                    crate::store::sieve::compile::check(&config.sieve, &text).map_err(|e| {
                        Failure::new(exit::DATAERR, anyhow::anyhow!("script {name:?}: {e}"))
                    })?;
                    scripts.set_active(Some(&name)).map_err(failure)?;
                }
                None => scripts.set_active(None).map_err(failure)?,
            }
            scripts.match_owner();
            Ok(())
        }
        SieveCommand::Deactivate { user } => {
            scripts_of(&config, &user)?
                .set_active(None)
                .map_err(failure)?;
            Ok(())
        }
        SieveCommand::Rm { user, name } => {
            scripts_of(&config, &user)?.delete(&name).map_err(failure)?;
            Ok(())
        }
    }
}

/// The scripts of `user`, who must be in the users file.
fn scripts_of(config: &Config, user: &str) -> Result<Scripts, Failure> {
    let users = crate::store::users::Users::load(&config.paths.users)
        .map_err(|e| Failure::new(exit::IOERR, e))?;
    if users.get(user).is_none() {
        return Err(Failure::new(
            exit::NOUSER,
            anyhow::anyhow!("no such user {user:?}"),
        ));
    }
    Scripts::of(&config.paths.mail, user, Limits::of(&config.sieve)).ok_or_else(|| {
        Failure::new(
            exit::DATAERR,
            anyhow::anyhow!("user name {user:?} cannot name a maildir"),
        )
    })
}

/// The script in `file` (`-`: standard input), at most `max` (`[sieve] max_script_size`) bytes.
fn read(file: &Path, max: u64) -> Result<Vec<u8>, Failure> {
    let mut text = Vec::new();
    let result = if file == Path::new("-") {
        std::io::stdin().lock().take(max + 1).read_to_end(&mut text)
    } else {
        std::fs::File::open(file).and_then(|f| f.take(max + 1).read_to_end(&mut text))
    };
    result
        .with_context(|| format!("cannot read {}", file.display()))
        .map_err(|e| Failure::new(exit::NOINPUT, e))?;
    if text.len() as u64 > max {
        return Err(Failure::new(
            exit::DATAERR,
            anyhow::anyhow!(
                "{}: larger than [sieve] max_script_size ({max} bytes)",
                file.display()
            ),
        ));
    }
    Ok(text)
}

fn failure(e: ScriptError) -> Failure {
    let code = match &e {
        ScriptError::NoSuchScript(_) => exit::NOINPUT,
        ScriptError::Io(_) => exit::IOERR,
        _ => exit::DATAERR,
    };
    Failure::new(code, e)
}
