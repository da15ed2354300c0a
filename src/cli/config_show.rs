//! `postern config show [--non-default]`: the effective configuration as TOML, like `postconf`
//! (every setting with its default) and `postconf -n` / `doveconf -n` (only what differs).

use std::path::Path;

use super::{exit, load_config, CliResult, Failure};

/// What stands in for a password in the output.
const MASK: &str = "********";

pub fn show(flag: Option<&Path>, non_default: bool) -> CliResult {
    let config = load_config(flag)?;
    let internal = |e: String| Failure::new(exit::SOFTWARE, anyhow::anyhow!(e));
    let mut value = toml::Value::try_from(&config).map_err(|e| internal(e.to_string()))?;
    if non_default {
        // The defaults: the same server and directory with nothing else set.
        let minimal = format!(
            "[server]\nhostname = {:?}\npostmaster = {:?}\n",
            config.server.hostname, config.server.postmaster
        );
        let defaults = crate::config::parse(&minimal, &config.base_dir)
            .map_err(|p| internal(format!("{p:?}")))?;
        let defaults = toml::Value::try_from(&defaults).map_err(|e| internal(e.to_string()))?;
        value = differences(&value, &defaults).unwrap_or(toml::Value::Table(toml::Table::new()));
        // Which server it is stays shown.
        if let (toml::Value::Table(t), Ok(server)) =
            (&mut value, toml::Value::try_from(&config.server))
        {
            t.insert("server".into(), server);
        }
    }
    mask(&mut value);
    let text = toml::to_string(&value).map_err(|e| internal(e.to_string()))?;
    print!("{text}");
    Ok(())
}

/// `value` less what equals `default`: tables key by key, anything else whole.
fn differences(value: &toml::Value, default: &toml::Value) -> Option<toml::Value> {
    match (value, default) {
        (toml::Value::Table(v), toml::Value::Table(d)) => {
            let mut out = toml::Table::new();
            for (k, x) in v {
                let kept = match d.get(k) {
                    Some(y) => differences(x, y),
                    None => Some(x.clone()),
                };
                if let Some(kept) = kept {
                    out.insert(k.clone(), kept);
                }
            }
            (!out.is_empty()).then_some(toml::Value::Table(out))
        }
        (v, d) if v == d => None,
        (v, _) => Some(v.clone()),
    }
}

/// Passwords are never printed.
fn mask(value: &mut toml::Value) {
    match value {
        toml::Value::Table(t) => {
            for (k, v) in t.iter_mut() {
                if k == "password" && v.is_str() {
                    *v = toml::Value::String(MASK.into());
                } else {
                    mask(v);
                }
            }
        }
        toml::Value::Array(a) => a.iter_mut().for_each(mask),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_differences_and_no_passwords() {
        let base = Path::new("/etc/postern");
        let text = "[server]\nhostname = \"mx.example.test\"\npostmaster = \"p@example.test\"\n\
                    [limits]\nrecipients = 7\n[[remote.server]]\nname = \"hq\"\nhost = \"192.0.2.1\"\n\
                    user = \"u\"\npassword = \"hunter2\"\n";
        let config = crate::config::parse(text, base).expect("valid");
        let minimal = "[server]\nhostname = \"mx.example.test\"\npostmaster = \"p@example.test\"\n";
        let defaults = crate::config::parse(minimal, base).expect("valid");
        let v = toml::Value::try_from(&config).expect("toml");
        let d = toml::Value::try_from(&defaults).expect("toml");
        let mut diff = differences(&v, &d).expect("some");
        mask(&mut diff);
        let out = toml::to_string(&diff).expect("text");
        assert!(out.contains("recipients = 7"), "{out}");
        assert!(!out.contains("message_size"), "{out}");
        assert!(!out.contains("hunter2"), "{out}");
        assert!(out.contains("********"), "{out}");
    }
}
