//! `[cluster]`: several hosts serving one mail system from one shared volume (the spool and the
//! mail volume on a cluster file system such as GlusterFS), and the per-host override file.
//!
//! ```toml
//! [cluster]
//! node = 1              # 0-7, different on every host sharing the spool (part of queue ids)
//! shared_volume = "auto" # "auto": a FUSE/NFS/CIFS/Ceph mail volume is shared; "yes"; "no"
//! idle_poll = "2s"      # IDLE looks for other hosts' changes this often on a shared volume
//! users_recheck = "1s"  # on a shared volume, the users file is looked at this often at most
//! claim_timeout = "30m" # a remote delivery claim of a crashed host is taken over after this
//! ```
//!
//! Everything that differs between hosts (`[server] hostname`, the listeners, `[cluster] node`)
//! goes into a host's own override file, named by `POSTERN_HOST_CONFIG`: its tables are merged
//! key by key over the main file, and any other value (arrays such as `[[listener]]` included)
//! replaces the main file's.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::units::Seconds;

/// The environment variable naming a host's override file.
pub const HOST_CONFIG_ENV: &str = "POSTERN_HOST_CONFIG";

/// Highest `[cluster] node`: the node number takes the 3 bits of a queue id's process-id field
/// that a Linux process id (at most 2^22) never uses.
pub const MAX_NODE: u8 = 7;

/// `[cluster]`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct Cluster {
    /// This host's number among the hosts sharing the spool (0-7): queue ids made on different
    /// nodes never collide.
    pub node: u8,
    /// Whether the mail volume is shared with other hosts (changes arrive without inotify).
    pub shared_volume: SharedVolume,
    /// How often an idling IMAP session looks at its mailbox for changes made by other hosts,
    /// when the volume is shared.
    pub idle_poll: Seconds,
    /// On a shared volume, how long the users file is trusted before it is looked at again
    /// (each look is a network round trip; a transaction looks ~10 times). `"0s"`: every time.
    pub users_recheck: Seconds,
    /// How long `serve` on a shared spool waits for its node number to be free (a crashed
    /// holder's lock goes when the file system notices; another live holder is a mistake).
    pub node_wait: Seconds,
    /// How long a runner's claim on a message it sends to a remote next hop holds before
    /// another host may take it over (the holder crashed or hangs; a claim of a process of this
    /// node that no longer runs is taken over at once). Longer than any one remote attempt.
    pub claim_timeout: Seconds,
}

impl Default for Cluster {
    fn default() -> Self {
        Cluster {
            node: 0,
            shared_volume: SharedVolume::Auto,
            idle_poll: Seconds(2),
            users_recheck: Seconds(1),
            node_wait: Seconds(90),
            claim_timeout: Seconds(30 * 60),
        }
    }
}

/// `[cluster] shared_volume`.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum SharedVolume {
    /// Shared when the mail volume is a network or FUSE file system.
    #[default]
    Auto,
    Yes,
    No,
}

impl Cluster {
    /// Whether the mail volume at `mail` is shared with other hosts.
    pub fn is_shared(&self, mail: &Path) -> bool {
        match self.shared_volume {
            SharedVolume::Yes => true,
            SharedVolume::No => false,
            SharedVolume::Auto => crate::store::volume_kind::is_network_fs(mail),
        }
    }
}

/// The main configuration text with the host override text merged over it.
pub fn merge(main: &str, host: &str) -> Result<String, String> {
    let mut base: toml::Table = toml::from_str(main).map_err(|e| e.message().trim().to_string())?;
    let over: toml::Table = toml::from_str(host).map_err(|e| e.message().trim().to_string())?;
    merge_tables(&mut base, over);
    toml::to_string(&base).map_err(|e| e.to_string())
}

fn merge_tables(base: &mut toml::Table, over: toml::Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge_tables(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic

    #[test]
    fn override_merges_tables_and_replaces_the_rest() {
        let main = "[server]\nhostname = \"mail.a.test\"\npostmaster = \"pm@a.test\"\n\
                    [[listener]]\nname = \"smtp\"\nprotocol = \"smtp\"\naddress = \"0.0.0.0:25\"\n\
                    [delivery]\nscan_interval = \"10s\"\n";
        let host = "[server]\nhostname = \"mx2.a.test\"\n[cluster]\nnode = 2\n\
                    [[listener]]\nname = \"smtp\"\nprotocol = \"smtp\"\naddress = \"10.0.0.2:25\"\n";
        let merged: toml::Table = toml::from_str(&super::merge(main, host).unwrap()).unwrap();
        assert_eq!(merged["server"]["hostname"].as_str(), Some("mx2.a.test"));
        assert_eq!(merged["server"]["postmaster"].as_str(), Some("pm@a.test"));
        assert_eq!(merged["cluster"]["node"].as_integer(), Some(2));
        assert_eq!(merged["delivery"]["scan_interval"].as_str(), Some("10s"));
        let listeners = merged["listener"].as_array().unwrap();
        assert_eq!(listeners.len(), 1);
        assert_eq!(listeners[0]["address"].as_str(), Some("10.0.0.2:25"));
    }

    #[test]
    fn claim_timeout_is_bounded() {
        let problems = |t: &str| {
            let text = format!(
                "[server]\nhostname = \"mx.a.test\"\npostmaster = \"pm@a.test\"\n\
                 [cluster]\nclaim_timeout = \"{t}\"\n"
            );
            match crate::config::parse(&text, std::path::Path::new("/")) {
                Ok(_) => 0,
                Err(problems) => problems
                    .iter()
                    .filter(|p| p.message.contains("claim_timeout"))
                    .count(),
            }
        };
        assert_eq!(problems("5s"), 1);
        assert_eq!(problems("30m"), 0);
        assert_eq!(problems("8d"), 1);
    }

    #[test]
    fn a_broken_override_is_an_error() {
        assert!(super::merge("[server]\n", "[server\n").is_err());
    }
}
