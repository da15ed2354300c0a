//! A listener's certificate, replaceable without a restart.
//!
//! At a handshake, when [`RELOAD_CHECK`] has passed since the last look, the certificate and key
//! files are `stat`ed; when either changed (modification time, size or inode: an edit, a rename
//! over it or a symlink pointed elsewhere, as ACME clients do), both are read again. A pair that
//! loads replaces the served one (event `tls_reloaded`); a broken pair (half written, key not
//! matching) is reported (`tls_reload_failed`) and the old certificate stays until the files
//! change again. The look happens on the handshake's thread: two `stat`s a second at most, and
//! two small reads only after a change.

use std::fmt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use super::keys::load_pair;
use super::TlsError;

/// How often, at most, the files are looked at.
pub const RELOAD_CHECK: Duration = Duration::from_secs(1);

/// What identifies a file's version: modification time, size, inode.
type FileStamp = Option<(SystemTime, u64, u64)>;

fn file_stamp(path: &Path) -> FileStamp {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len(), meta.ino()))
}

/// Serves the certificate last loaded from `cert` and `key`, reloading it when they change.
pub struct Reloading {
    cert: PathBuf,
    key: PathBuf,
    every: Duration,
    state: Mutex<State>,
}

struct State {
    current: Arc<CertifiedKey>,
    stamp: [FileStamp; 2],
    checked: Instant,
}

impl Reloading {
    /// Loads the pair now (an error is the start-up error); afterwards looks at most `every`.
    pub fn load(cert: &Path, key: &Path, every: Duration) -> Result<Reloading, TlsError> {
        // Stamp before reading: a change during the read is seen at the next look.
        let stamp = [file_stamp(cert), file_stamp(key)];
        let current = Arc::new(load_pair(cert, key)?);
        Ok(Reloading {
            cert: cert.to_owned(),
            key: key.to_owned(),
            every,
            state: Mutex::new(State {
                current,
                stamp,
                checked: Instant::now(),
            }),
        })
    }

    /// The certificate to serve now, reloaded first if it is time to look and the files changed.
    pub fn current(&self) -> Arc<CertifiedKey> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.checked.elapsed() >= self.every {
            state.checked = Instant::now();
            let stamp = [file_stamp(&self.cert), file_stamp(&self.key)];
            if stamp != state.stamp {
                state.stamp = stamp;
                match load_pair(&self.cert, &self.key) {
                    Ok(new) => {
                        state.current = Arc::new(new);
                        crate::events::event("tls_reloaded")
                            .field("cert", self.cert.display())
                            .field("key", self.key.display())
                            .emit();
                    }
                    Err(e) => crate::events::event("tls_reload_failed")
                        .field("cert", self.cert.display())
                        .field("key", self.key.display())
                        .field(
                            "error",
                            format!("{e}; still serving the previous certificate"),
                        )
                        .emit(),
                }
            }
        }
        state.current.clone()
    }
}

impl ResolvesServerCert for Reloading {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

impl fmt::Debug for Reloading {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reloading")
            .field("cert", &self.cert)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}
