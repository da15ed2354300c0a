//! `vacation` (RFC 5230/6131): the action with every parameter resolved.

use super::{Frame, State};
use crate::proto::sieve::ast::VacationCmd;
use crate::proto::sieve::{Action, RuntimeError, Vacation};

impl State<'_, '_> {
    pub(super) fn vacation(&mut self, v: &VacationCmd, frame: &Frame) -> Result<(), RuntimeError> {
        for a in &self.actions {
            match a {
                Action::Vacation(_) => return Err(RuntimeError::Conflict("vacation", "vacation")),
                Action::Reject { extended, .. } => {
                    return Err(RuntimeError::Conflict(
                        "vacation",
                        if *extended { "ereject" } else { "reject" },
                    ))
                }
                _ => {}
            }
        }
        let reason = self.expand(frame, &v.reason).into_owned();
        let subject = v
            .subject
            .as_ref()
            .map(|s| self.expand(frame, s).into_owned());
        let from = v.from.as_ref().map(|s| self.expand(frame, s).into_owned());
        let handle = match &v.handle {
            Some(h) => self.expand(frame, h).into_owned(),
            None => {
                // RFC 5230 §4.2: the same reason, :subject, :from and :mime give the same handle.
                let mut h = Fnv::new();
                h.write(reason.as_bytes());
                h.write(b"\0");
                h.write(subject.as_deref().unwrap_or_default().as_bytes());
                h.write(b"\0");
                h.write(from.as_deref().unwrap_or_default().as_bytes());
                h.write(if v.mime { b"\x01" } else { b"\x00" });
                format!("auto-{:016x}", h.0)
            }
        };
        let action = Action::Vacation(Vacation {
            reason,
            subject,
            from,
            addresses: self.expand_all(frame, &v.addresses),
            mime: v.mime,
            handle,
            period_seconds: v.seconds.unwrap_or(7 * 86400),
            to: self.input.envelope.from.clone(),
        });
        self.push(action)
    }
}

/// FNV-1a, 64 bit: a stable digest for default vacation handles.
struct Fnv(u64);

impl Fnv {
    fn new() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
    fn write(&mut self, b: &[u8]) {
        for &x in b {
            self.0 ^= u64::from(x);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}
