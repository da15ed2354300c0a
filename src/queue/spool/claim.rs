//! Delivery claims: `claims/ID`, made with `link(2)` (which fails with `EEXIST` when the name
//! exists, on a local disk and across GlusterFS, NFS and CIFS clients alike) before a runner
//! sends a message to a remote next hop.
//!
//! The queue file's `flock` keeps two runners off one message, but a lock can fail where a
//! name cannot: a GlusterFS brick back from a restart does not know the locks taken while it
//! was away, so two hosts' runners may both hold "the" lock. Local deliveries are safe then
//! (their names are shared: the second `link` finds the first copy); a remote next hop has no
//! such guard, so the runner also claims the message by name, and re-reads the delivery state
//! once the claim is its own (the results of a runner that finished before it).
//!
//! A claim names its holder: node, host, process id, time and a random token. It is released
//! (unlinked) only after the attempt's results are in the delivery state (or the message left
//! the queue). A runner finding a claim leaves the message alone, unless the claim is stale:
//! - made by a process of this node that no longer runs (taken over at once), or
//! - older than `[cluster] claim_timeout` (a holder on another host that crashed, or hangs).
//!
//! Taking over a stale claim is at-least-once, as a Postfix administrator would have it: the
//! earlier attempt's outcome is unknown (the next hop may have taken the message before the
//! holder died), so its recipients still pending in the state are tried again.

use std::fs;
use std::io::{self, ErrorKind};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{io_err, now, QueueId, Spool, SpoolError};

/// The claims directory under the spool root.
pub const DIR: &str = "claims";

/// Longest claim file read.
const MAX_CLAIM: u64 = 4096;

/// Who holds a claim (the claim file's one JSON line).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    pub node: u8,
    pub host: String,
    pub pid: u32,
    /// Seconds since the epoch when it was made.
    pub time: u64,
    pub token: String,
}

/// Who a claim is made for: this runner.
#[derive(Debug, Clone)]
pub struct Claimant<'a> {
    pub node: u8,
    pub host: &'a str,
    /// After this long a claim of another process is stale.
    pub timeout: Duration,
}

/// What a claim attempt came to.
#[derive(Debug)]
pub enum Claimed {
    /// The message is this runner's; `took_over` names the stale holder it replaced.
    Ours {
        claim: Claim,
        took_over: Option<Holder>,
    },
    /// Another runner holds it (`None`: a claim file that cannot be read, not yet stale).
    Held(Option<Holder>),
}

/// A claim held by this runner. Dropping it keeps the claim (a failed attempt whose results
/// could not be recorded leaves it to go stale); [`Claim::release`] ends it.
#[derive(Debug)]
pub struct Claim {
    path: PathBuf,
    token: String,
}

impl Claim {
    /// Ends the claim of a message that has left the queue, leaving `claims/ID.done` behind
    /// (made before the claim goes). A replicated volume healing a brick that was away can bring
    /// an unlinked name back — the finished message's queue file with its bytes was seen to
    /// return after its runner removed it — and a runner finding `ID.done` drops such a file
    /// instead of sending it again ([`Spool::finished_before`]). Swept after [`DONE_KEEP`].
    pub fn finish(self) {
        let done = done_path(&self.path);
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&done)
        {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            Err(e) => crate::events::event("claim_done_failed")
                .field("path", done.display())
                .field("error", e)
                .emit(),
        }
        self.release();
    }

    /// Ends the claim, once the attempt's results are recorded. A claim another runner has
    /// taken over meanwhile (this one was judged stale) is left to it.
    pub fn release(self) {
        match read_holder(&self.path) {
            Ok(Some(h)) if h.token == self.token => {
                let _ = fs::remove_file(&self.path);
            }
            _ => {}
        }
    }
}

impl Spool {
    pub(crate) fn claim_path(&self, id: &QueueId) -> PathBuf {
        self.root.join(DIR).join(id.as_str())
    }

    /// Claims message `id` for a remote delivery attempt by `who`.
    pub fn claim(&self, id: &QueueId, who: &Claimant<'_>) -> Result<Claimed, SpoolError> {
        claim(self.claim_path(id), who)
    }

    /// Whether message `id` left the queue after a remote delivery (its `claims/ID.done`): a
    /// queue file of it is a name the volume brought back.
    pub fn finished_before(&self, id: &QueueId) -> bool {
        fs::symlink_metadata(done_path(&self.claim_path(id))).is_ok()
    }

    /// A claim on something other than a message (e.g. `acme`, the certificate renewal), under
    /// `claims/` too. `what` is a fixed name of ours, never a client's.
    pub fn claim_named(&self, what: &str, who: &Claimant<'_>) -> Result<Claimed, SpoolError> {
        claim(self.root.join(DIR).join(what), who)
    }
}

/// Claims the name `path` for `who` (see the module docs).
pub fn claim(path: PathBuf, who: &Claimant<'_>) -> Result<Claimed, SpoolError> {
    let me = Holder {
        node: who.node,
        host: who.host.to_string(),
        pid: std::process::id(),
        time: now(),
        token: token(),
    };
    // Twice at most: once, and once more after taking over a stale claim.
    let mut took_over = None;
    for _ in 0..2 {
        if make(&path, &me)? {
            return Ok(Claimed::Ours {
                claim: Claim {
                    path,
                    token: me.token,
                },
                took_over,
            });
        }
        let found = read_holder(&path).map_err(io_err(&path))?;
        let stale = match &found {
            Some(h) => is_stale(h, who),
            // Unreadable (half-made by a crashed runner, or damaged): stale by its age.
            None => age_of(&path).is_some_and(|a| a > who.timeout),
        };
        if !stale {
            return Ok(Claimed::Held(found));
        }
        if !take_over(&path, found.as_ref())? {
            return Ok(Claimed::Held(found));
        }
        took_over = found;
    }
    Ok(Claimed::Held(None))
}

/// How long `claims/ID.done` is kept after its message left the queue.
pub const DONE_KEEP: Duration = Duration::from_secs(86_400);

fn done_path(claim: &Path) -> PathBuf {
    let mut p = claim.as_os_str().to_owned();
    p.push(".done");
    PathBuf::from(p)
}

/// Makes the claim file at `path` for `me`: written under a private name, then linked to
/// `path`, so a claim is never seen half-written. `false` when `path` exists.
fn make(path: &Path, me: &Holder) -> Result<bool, SpoolError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}", me.token));
    let mut line = serde_json::to_vec(me).map_err(|e| SpoolError::Damaged {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    line.push(b'\n');
    let write = match fs::write(&tmp, &line) {
        Err(e) if e.kind() == ErrorKind::NotFound => {
            fs::create_dir_all(dir).map_err(io_err(dir))?;
            fs::write(&tmp, &line)
        }
        other => other,
    };
    write.map_err(io_err(&tmp))?;
    let linked = fs::hard_link(&tmp, path);
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(io_err(path)(e)),
    }
}

/// The holder named in the claim file (`None`: gone or unreadable).
fn read_holder(path: &Path) -> io::Result<Option<Holder>> {
    use std::io::Read;
    let mut text = Vec::new();
    match fs::File::open(path) {
        Ok(f) => {
            f.take(MAX_CLAIM).read_to_end(&mut text)?;
        }
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    }
    Ok(serde_json::from_slice(text.trim_ascii()).ok())
}

fn age_of(path: &Path) -> Option<Duration> {
    let m = fs::metadata(path).ok()?.modified().ok()?;
    std::time::SystemTime::now().duration_since(m).ok()
}

/// Whether `h`'s claim may be taken over by `who`: its process is gone (this node's own), or
/// it is older than the timeout.
pub fn is_stale(h: &Holder, who: &Claimant<'_>) -> bool {
    let age = now().saturating_sub(h.time);
    if age > who.timeout.as_secs() {
        return true;
    }
    h.node == who.node && h.host == who.host && h.pid != std::process::id() && !alive(h.pid)
}

/// Whether a process `pid` runs on this host.
fn alive(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: kill with signal 0 sends nothing; it only checks that the process exists.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Removes the stale claim at `path` whose holder was `judged`, if it is still that claim:
/// it is renamed to a private name first (only one of several runners taking it over
/// succeeds), and put back if what was moved turns out to be a newer claim. `true` when the
/// stale claim is gone and the name is free to claim.
fn take_over(path: &Path, judged: Option<&Holder>) -> Result<bool, SpoolError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let moved = dir.join(format!(".{name}.stale.{}", token()));
    match fs::rename(path, &moved) {
        Ok(()) => {}
        // Another runner took it over first (or its holder released it): claim afresh.
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(true),
        Err(e) => return Err(io_err(path)(e)),
    }
    let what = read_holder(&moved).ok().flatten();
    let same = match (judged, &what) {
        (Some(j), Some(w)) => j.token == w.token,
        (None, None) => true,
        _ => false,
    };
    if !same {
        // A claim made after the judgement: give it back (if nobody claimed meanwhile).
        let _ = fs::hard_link(&moved, path);
        let _ = fs::remove_file(&moved);
        return Ok(false);
    }
    let _ = fs::remove_file(&moved);
    Ok(true)
}

/// A random token naming one claim.
fn token() -> String {
    let mut b = [0u8; 8];
    if getrandom::fill(&mut b).is_err() {
        let n = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        b = (n as u64 ^ u64::from(std::process::id())).to_le_bytes();
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Removes claim files whose message is gone and that are older than `older` (a runner that
/// crashed after finishing, before releasing), and private leftovers of the same age.
pub(super) fn sweep(spool: &Spool, older: Duration) -> usize {
    let dir = spool.root.join(DIR);
    let Ok(entries) = fs::read_dir(&dir) else {
        return 0;
    };
    let mut removed = 0;
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        if age_of(&e.path()).is_none_or(|a| a < older) {
            continue;
        }
        let gone = match (QueueId::parse(name), name.strip_suffix(".done")) {
            (Some(id), _) => spool.find(&id).is_none(),
            (None, Some(done)) => {
                QueueId::parse(done).is_some() && age_of(&e.path()).is_some_and(|a| a > DONE_KEEP)
            }
            (None, None) => name.starts_with('.'),
        };
        if gone && fs::remove_file(e.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic

    use super::*;

    fn who(node: u8, host: &str) -> Claimant<'_> {
        Claimant {
            node,
            host,
            timeout: Duration::from_secs(60),
        }
    }

    fn spool() -> (tempfile::TempDir, Spool, QueueId) {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path()).unwrap();
        (dir, spool, QueueId::generate())
    }

    #[test]
    fn one_claim_at_a_time_and_released_after() {
        let (_d, spool, id) = spool();
        let Claimed::Ours { claim, took_over } = spool.claim(&id, &who(1, "a")).unwrap() else {
            panic!("first claim")
        };
        assert!(took_over.is_none());
        // Another host, or another process of this one: held.
        match spool.claim(&id, &who(2, "b")).unwrap() {
            Claimed::Held(Some(h)) => {
                assert_eq!((h.node, h.host.as_str()), (1, "a"));
                assert_eq!(h.pid, std::process::id());
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            spool.claim(&id, &who(1, "a")).unwrap(),
            Claimed::Held(Some(_))
        ));
        claim.release();
        assert!(!spool.claim_path(&id).exists());
        assert!(matches!(
            spool.claim(&id, &who(2, "b")).unwrap(),
            Claimed::Ours { .. }
        ));
        // No private files left beside the claim.
        let names: Vec<_> = fs::read_dir(spool.root().join(DIR))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }

    fn plant(spool: &Spool, id: &QueueId, h: &Holder) {
        let p = spool.claim_path(id);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, serde_json::to_vec(h).unwrap()).unwrap();
    }

    #[test]
    fn a_dead_runner_of_this_node_is_taken_over_at_once_another_node_after_the_timeout() {
        let (_d, spool, id) = spool();
        // A process that has exited: a child we waited for.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let h = Holder {
            node: 1,
            host: "a".into(),
            pid: dead,
            time: now(),
            token: "dead".into(),
        };
        plant(&spool, &id, &h);
        // Another node cannot tell whether that process runs: it waits for the timeout.
        assert!(matches!(
            spool.claim(&id, &who(2, "b")).unwrap(),
            Claimed::Held(Some(_))
        ));
        match spool.claim(&id, &who(1, "a")).unwrap() {
            Claimed::Ours { took_over, claim } => {
                assert_eq!(took_over, Some(h.clone()));
                claim.release();
            }
            other => panic!("{other:?}"),
        }
        // A live holder elsewhere, too old: taken over by anyone.
        let old = Holder {
            node: 3,
            host: "c".into(),
            pid: 1,
            time: now() - 120,
            token: "old".into(),
        };
        plant(&spool, &id, &old);
        assert!(matches!(
            spool.claim(&id, &who(2, "b")).unwrap(),
            Claimed::Ours { took_over: Some(t), .. } if t == old
        ));
    }

    #[test]
    fn a_fresh_claim_is_not_taken_over_by_a_late_judgement() {
        let (_d, spool, id) = spool();
        let stale = Holder {
            node: 3,
            host: "c".into(),
            pid: 1,
            time: now() - 120,
            token: "stale".into(),
        };
        // Judged stale, but meanwhile someone else took it over and claimed afresh.
        let Claimed::Ours { claim, .. } = spool.claim(&id, &who(2, "b")).unwrap() else {
            panic!()
        };
        assert!(!take_over(&spool.claim_path(&id), Some(&stale)).unwrap());
        assert!(spool.claim_path(&id).exists(), "the fresh claim is back");
        claim.release();
        assert!(!spool.claim_path(&id).exists());
    }

    #[test]
    fn a_finished_message_leaves_a_done_mark() {
        let (_d, spool, id) = spool();
        assert!(!spool.finished_before(&id));
        let Claimed::Ours { claim, .. } = spool.claim(&id, &who(1, "a")).unwrap() else {
            panic!()
        };
        claim.finish();
        assert!(!spool.claim_path(&id).exists());
        assert!(spool.finished_before(&id));
        // Kept by a sweep for a day; its message is gone.
        assert_eq!(sweep(&spool, Duration::ZERO), 0);
        assert!(spool.finished_before(&id));
    }

    #[test]
    fn release_leaves_a_claim_taken_over_meanwhile() {
        let (_d, spool, id) = spool();
        let Claimed::Ours { claim, .. } = spool.claim(&id, &who(1, "a")).unwrap() else {
            panic!()
        };
        let other = Holder {
            node: 2,
            host: "b".into(),
            pid: 1,
            time: now(),
            token: "theirs".into(),
        };
        plant(&spool, &id, &other);
        claim.release();
        assert_eq!(read_holder(&spool.claim_path(&id)).unwrap(), Some(other));
    }
}
