//! The config loader: TOML, then every check of `config check`; a config that passes is used
//! the way the daemons use it (routing of a few addresses, trust, the receiving rules, the
//! remote routes), for a config that validates must not make them loop or panic.

use std::net::IpAddr;
use std::path::Path;

use postern::config::Protocol;
use postern::queue::deliver::remote::job_of;
use postern::queue::routing::resolve;

use super::site;

const ADDRESSES: &[&str] = &[
    "alice@example.test",
    "sales@example.test",
    "loop1@example.test",
    "x@other.test",
    "someone@remote.test",
    "victim@elsewhere.test",
    "postmaster",
    "a%b@example.test",
    "\"quoted\"@example.test",
];

pub fn parse(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let config = match postern::config::parse(text, Path::new("/etc/postern")) {
        Ok(c) => c,
        Err(problems) => {
            assert!(!problems.is_empty(), "refused without a reason");
            return;
        }
    };
    let (_, users) = site::shared();
    for address in ADDRESSES {
        let _ = resolve(&config, users, address);
        let _ = job_of(&config, users, address);
    }
    for ip in ["10.1.2.3", "192.0.2.200", "::1"] {
        let ip: IpAddr = ip.parse().expect("address");
        let _ =
            postern::receive::policy::trusted_client(&config, config.listeners.first(), Some(ip));
    }
    for protocol in [Protocol::Smtp, Protocol::Pop3, Protocol::Imap] {
        let _ = config.auth.offered_names(protocol, false);
    }
    let _ = config.receiving.rules(false);
    let _ = config.dns();
    for attempt in [0, 1, 5, 1000, u32::MAX] {
        let _ = config.delivery.retry_after(attempt);
    }
    for account in &config.collect {
        let _ = account.port();
    }
}
