//! Who gets a session: the connection caps of a listener (in all, per client address, per
//! /24 or /64), the answer for those beyond them, and the process's file-descriptor budget.
//!
//! A listener never stops accepting: a client beyond a cap is told so at once (`421 4.7.0`,
//! `* BYE`, `-ERR [SYS/TEMP]`) and the connection closed, instead of waiting unanswered in the
//! kernel's backlog. Those answers are themselves bounded ([`REFUSALS_AT_ONCE`], each within
//! [`REFUSAL_TIME`]); past that a connection is closed without a word.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::{Config, Listener, Protocol};

/// Refusal answers being written at once, per listener.
pub const REFUSALS_AT_ONCE: usize = 1024;
/// Time a refusal answer (with its TLS handshake on an implicit-TLS listener) may take.
pub const REFUSAL_TIME: Duration = Duration::from_secs(5);

/// A connection the caps let in; dropping it gives its place back.
pub struct Admitted {
    _place: OwnedSemaphorePermit,
    counted: Option<(Arc<Counts>, IpAddr)>,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        if let Some((counts, ip)) = &self.counted {
            counts.release(*ip);
        }
    }
}

/// Why a connection was not let in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The listener is full.
    Listener,
    /// The client's address has its share.
    Address,
    /// The client's /24 or /64 has its share.
    Network,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Listener => "listener",
            Refusal::Address => "address",
            Refusal::Network => "network",
        }
    }
}

/// The network a client address belongs to for the per-network cap.
fn network(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4) & 0xffff_ff00),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => u128::from(u32::from(v4) & 0xffff_ff00),
            None => (u128::from(v6) >> 64 << 64) | 1 << 32,
        },
    }
}

/// Connections per address and per network on one listener.
#[derive(Default)]
struct Counts {
    tables: Mutex<(HashMap<IpAddr, usize>, HashMap<u128, usize>)>,
}

impl Counts {
    fn take(&self, ip: IpAddr, per_ip: usize, per_net: usize) -> Result<(), Refusal> {
        let mut t = self.tables.lock().unwrap_or_else(|e| e.into_inner());
        let (ips, nets) = &mut *t;
        let at_ip = ips.get(&ip).copied().unwrap_or(0);
        let at_net = nets.get(&network(ip)).copied().unwrap_or(0);
        if per_ip > 0 && at_ip >= per_ip {
            return Err(Refusal::Address);
        }
        if per_net > 0 && at_net >= per_net {
            return Err(Refusal::Network);
        }
        ips.insert(ip, at_ip + 1);
        nets.insert(network(ip), at_net + 1);
        Ok(())
    }

    fn release(&self, ip: IpAddr) {
        let mut t = self.tables.lock().unwrap_or_else(|e| e.into_inner());
        let (ips, nets) = &mut *t;
        decrement(ips, ip);
        decrement(nets, network(ip));
    }
}

fn decrement<K: std::hash::Hash + Eq>(table: &mut HashMap<K, usize>, key: K) {
    if let Some(n) = table.get_mut(&key) {
        *n -= 1;
        if *n == 0 {
            table.remove(&key);
        }
    }
}

/// The caps of one listener.
pub struct Admission {
    places: Arc<Semaphore>,
    /// Places for refusal answers.
    pub refusals: Arc<Semaphore>,
    counts: Arc<Counts>,
    per_ip: usize,
    per_net: usize,
    trusted: Box<dyn Fn(IpAddr) -> bool + Send + Sync>,
}

impl Admission {
    /// The caps of `listener` under `config`, with `cap` connections in all (the configured
    /// cap, possibly lowered to fit the file-descriptor budget).
    pub fn new(config: &Arc<Config>, listener: &Listener, cap: usize) -> Admission {
        let limits = &config.limits;
        let trusted_listener = listener.trusted;
        let cfg = config.clone();
        Admission {
            places: Arc::new(Semaphore::new(cap.max(1))),
            refusals: Arc::new(Semaphore::new(REFUSALS_AT_ONCE)),
            counts: Arc::new(Counts::default()),
            per_ip: limits.connections_per_ip,
            per_net: limits.connections_per_network,
            trusted: Box::new(move |ip| trusted_listener || cfg.trust.contains(ip)),
        }
    }

    /// Lets a connection from `peer` in, or says which cap refuses it.
    pub fn admit(&self, peer: Option<IpAddr>) -> Result<Admitted, Refusal> {
        let place = self
            .places
            .clone()
            .try_acquire_owned()
            .map_err(|_| Refusal::Listener)?;
        let counted = match peer {
            Some(ip) if !(self.trusted)(ip) => {
                self.counts.take(ip, self.per_ip, self.per_net)?;
                Some((self.counts.clone(), ip))
            }
            _ => None,
        };
        Ok(Admitted {
            _place: place,
            counted,
        })
    }
}

/// What a client beyond a cap is told before the connection closes.
pub fn busy_reply(protocol: Protocol, hostname: &str) -> Vec<u8> {
    match protocol {
        Protocol::Smtp | Protocol::Submission => {
            format!("421 4.7.0 {hostname} Too many connections, try again later\r\n")
        }
        Protocol::Pop3 => "-ERR [SYS/TEMP] Too many connections, try again later\r\n".into(),
        Protocol::Imap => "* BYE [UNAVAILABLE] Too many connections, try again later\r\n".into(),
        Protocol::Managesieve => {
            "BYE (TRYLATER) \"Too many connections, try again later\"\r\n".into()
        }
    }
    .into_bytes()
}

/// File descriptors each connection is budgeted (its socket, a file or two it reads).
const FDS_PER_CONNECTION: u64 = 2;
/// Descriptors kept for everything else (spool, maildirs, logs, the resolver, inotify).
const FDS_RESERVED: u64 = 256;

/// The outcome of [`fit_connection_caps`].
#[derive(Debug, PartialEq, Eq)]
pub struct FdBudget {
    /// The soft limit in force (after raising it).
    pub limit: u64,
    /// The per-listener caps, lowered proportionally when they did not fit.
    pub caps: Vec<usize>,
    /// Whether any cap was lowered.
    pub lowered: bool,
}

/// Lowers `caps` so that all connections fit into `limit` descriptors with room for files.
pub fn fit_caps(limit: u64, caps: &[usize]) -> FdBudget {
    let want: u64 = caps.iter().map(|&c| c as u64).sum::<u64>() * FDS_PER_CONNECTION;
    let room = limit.saturating_sub(FDS_RESERVED);
    if want <= room || want == 0 {
        return FdBudget {
            limit,
            caps: caps.to_vec(),
            lowered: false,
        };
    }
    let scaled = caps
        .iter()
        .map(|&c| ((c as u64 * room / want) as usize).max(1))
        .collect();
    FdBudget {
        limit,
        caps: scaled,
        lowered: true,
    }
}

/// Raises the soft descriptor limit to the hard one and fits `caps` into it.
pub fn fit_connection_caps(caps: &[usize]) -> FdBudget {
    let limit = raise_nofile().unwrap_or(1024);
    fit_caps(limit, caps)
}

/// Raises RLIMIT_NOFILE's soft limit to its hard limit; returns the soft limit now in force.
fn raise_nofile() -> Option<u64> {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass; it has no other effects.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) } != 0 {
        return None;
    }
    if rl.rlim_cur < rl.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: rl.rlim_max,
            rlim_max: rl.rlim_max,
        };
        // SAFETY: setrlimit only reads the struct; raising the soft limit up to the hard limit
        // is always permitted.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            return Some(raised.rlim_cur);
        }
    }
    Some(rl.rlim_cur)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &str) -> Arc<Config> {
        let text = format!(
            "[server]\nhostname = \"mx.example\"\npostmaster = \"pm@example\"\n[trust]\nnetworks = [\"10.0.0.0/8\"]\n[limits]\n{extra}\n"
        );
        Arc::new(crate::config::parse(&text, std::path::Path::new("/etc/postern")).expect("config"))
    }

    fn listener() -> Listener {
        Listener {
            name: "smtp".into(),
            protocol: Protocol::Smtp,
            address: ([127, 0, 0, 1], 25).into(),
            tls: crate::config::TlsMode::None,
            cert: None,
            key: None,
            trusted: false,
        }
    }

    fn ip(s: &str) -> Option<IpAddr> {
        s.parse().ok()
    }

    #[test]
    fn per_address_and_per_network_caps_and_places_come_back() {
        let cfg = config("connections_per_ip = 2\nconnections_per_network = 3");
        let a = Admission::new(&cfg, &listener(), 100);
        let one = a.admit(ip("192.0.2.1")).unwrap();
        let _two = a.admit(ip("192.0.2.1")).unwrap();
        assert_eq!(a.admit(ip("192.0.2.1")).err(), Some(Refusal::Address));
        let _three = a.admit(ip("192.0.2.2")).unwrap();
        assert_eq!(a.admit(ip("192.0.2.3")).err(), Some(Refusal::Network));
        assert!(a.admit(ip("192.0.3.1")).is_ok());
        drop(one);
        assert!(a.admit(ip("192.0.2.3")).is_ok());
        // Trusted networks are not counted per address.
        let held: Vec<_> = (0..10).map(|_| a.admit(ip("10.1.2.3")).unwrap()).collect();
        assert_eq!(held.len(), 10);
    }

    #[test]
    fn ipv6_networks_are_64s() {
        let cfg = config("connections_per_ip = 0\nconnections_per_network = 2");
        let a = Admission::new(&cfg, &listener(), 100);
        let _x = a.admit(ip("2001:db8::1")).unwrap();
        let _y = a.admit(ip("2001:db8::2")).unwrap();
        assert_eq!(a.admit(ip("2001:db8::3")).err(), Some(Refusal::Network));
        assert!(a.admit(ip("2001:db8:0:1::1")).is_ok());
    }

    #[test]
    fn the_listener_cap_refuses_everyone_beyond_it() {
        let cfg = config("");
        let a = Admission::new(&cfg, &listener(), 2);
        let _p = (a.admit(ip("10.0.0.1")).unwrap(), a.admit(None).unwrap());
        assert_eq!(a.admit(ip("10.0.0.2")).err(), Some(Refusal::Listener));
    }

    #[test]
    fn caps_are_fitted_into_the_descriptor_limit() {
        // Seven listeners of 500 need 7,000 descriptors with files: 1,024 cannot hold them.
        let b = fit_caps(1024, &[500; 7]);
        assert!(b.lowered);
        let total: usize = b.caps.iter().sum();
        assert!(
            total as u64 * FDS_PER_CONNECTION <= 1024 - FDS_RESERVED,
            "{b:?}"
        );
        assert!(b.caps.iter().all(|&c| c >= 1));
        let roomy = fit_caps(65536, &[500; 7]);
        assert!(!roomy.lowered);
        assert_eq!(roomy.caps, vec![500; 7]);
    }
}
