//! Message authentication: DKIM signing of outgoing mail ([`sign`], keys in [`keys`]), and the
//! checks of incoming mail. The cryptography, record parsing and canonicalisation are
//! mail-auth's (Stalwart's library); this module decides what is signed or checked with which
//! settings, and how a verdict is acted on.

pub mod keys;
pub mod records;
pub mod sevenbit;
pub mod sign;
pub mod verify;
