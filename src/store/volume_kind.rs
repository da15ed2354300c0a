//! What kind of file system a volume is on: a shared one (network or FUSE) sees other hosts'
//! changes without inotify events, so readers that wait for changes must also poll.

use std::path::Path;

/// `statfs` magic numbers of file systems that other hosts can change under us.
const SHARED_MAGICS: &[(i128, &str)] = &[
    (0x6573_5546, "fuse"), // FUSE_SUPER_MAGIC: GlusterFS, CephFS-fuse, sshfs…
    (0x6969, "nfs"),       // NFS_SUPER_MAGIC
    (0xFF53_4D42, "cifs"), // CIFS_MAGIC_NUMBER
    (0xFE53_4D42, "smb2"), // SMB2_MAGIC_NUMBER
    (0x00C3_6400, "ceph"), // CEPH_SUPER_MAGIC
    (0x0BD0_0BD0, "lustre"),
    (0x4750_4653, "gpfs"),
    (0x0102_1997, "9p"), // V9FS_MAGIC
];

/// The name of the shared file system `path` is on, if it is on one. A path not made yet is
/// on the file system of its nearest existing ancestor; one that cannot be looked at at all
/// counts as local (the caller learns of it elsewhere).
pub fn network_fs_name(path: &Path) -> Option<&'static str> {
    let st = path
        .ancestors()
        .filter(|p| !p.as_os_str().is_empty())
        .find_map(|p| nix::sys::statfs::statfs(p).ok())?;
    // (f_type is an i64 here, a u32 or i32 on other targets.)
    let magic = i128::from(st.filesystem_type().0);
    SHARED_MAGICS
        .iter()
        .find(|(m, _)| *m == magic)
        .map(|(_, name)| *name)
}

/// Whether `path` is on a network or FUSE file system.
pub fn is_network_fs(path: &Path) -> bool {
    network_fs_name(path).is_some()
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_local_directory_is_not_shared() {
        let dir = std::env::temp_dir();
        // /tmp is a local file system on every machine these tests run on (tmpfs or the root).
        assert_eq!(super::network_fs_name(&dir), None);
        assert_eq!(super::network_fs_name(&dir.join("not/made/yet")), None);
    }

    #[test]
    fn a_path_not_made_yet_is_on_its_ancestors_file_system() {
        // /proc is procfs, not shared; /dev/shm is tmpfs: neither is a network file system, and
        // neither answer depends on the missing tail.
        assert_eq!(
            super::network_fs_name(std::path::Path::new("/proc/no/such/dir")),
            None
        );
    }
}
