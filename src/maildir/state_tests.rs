//! Tests of the mailbox state on real temporary directories.
