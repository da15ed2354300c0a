//! Free space on a file system (`statvfs`): the spool reserve checked at MAIL, and whether a
//! mail volume that was full has room again for the deliveries deferred on it.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Bytes an unprivileged process may still write on the file system holding `path` (or, when
/// `path` does not exist yet, its nearest existing ancestor).
pub fn available(path: &Path) -> io::Result<u64> {
    let mut at = path;
    loop {
        match statvfs_available(at) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => match at.parent() {
                Some(parent) if !parent.as_os_str().is_empty() => at = parent,
                _ => return Err(e),
            },
            other => return other,
        }
    }
}

/// Whether an `errno` says the file system (or the user's disk quota) is full.
pub fn is_full(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOSPC) | Some(libc::EDQUOT))
}

fn statvfs_available(path: &Path) -> io::Result<u64> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path with a NUL byte"))?;
    // SAFETY: an all-zero statvfs is a valid value of this plain C struct.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a NUL-terminated path and `st` a valid statvfs to write into.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // (Both are 64-bit on the 64-bit Linux targets; `as` keeps 32-bit ones building.)
    #[allow(clippy::unnecessary_cast)]
    Ok((st.f_bavail as u64).saturating_mul(st.f_frsize as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn available_space_of_a_path_or_its_ancestor() {
        let dir = tempfile::tempdir().expect("tmp");
        let here = available(dir.path()).expect("statvfs");
        assert!(here > 0);
        let missing = dir.path().join("not/yet/made");
        let there = available(&missing).expect("ancestor");
        // The same file system; a few blocks may come and go between the two calls.
        assert!(here.abs_diff(there) < 64 * 1024 * 1024, "{here} {there}");
        let e = io::Error::from_raw_os_error(libc::ENOSPC);
        assert!(is_full(&e));
        assert!(!is_full(&io::Error::from_raw_os_error(libc::EACCES)));
    }
}
