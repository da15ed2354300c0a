//! Queue: what the intake accepted and has not delivered yet — the spool, the routing decision
//! for each recipient, and delivery (local, remote, retries, DSNs).

pub mod deliver;
pub mod routing;
pub mod spool;
