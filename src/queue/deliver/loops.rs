//! Loop detection: too many `Received` headers, or a `Delivered-To` naming the recipient we are
//! about to deliver to (the message has been here for them before). Either one bounces the
//! recipient instead of letting the message circle.

use super::outcomes;
use crate::proto::mail::Outcome;

/// What the header section says about the message's path.
pub struct Hops {
    received: usize,
    delivered_to: Vec<String>,
}

/// Largest header section examined.
const HEADER_LIMIT: usize = 1024 * 1024;

impl Hops {
    /// Read the header section of `message`.
    pub fn of(message: &[u8]) -> Hops {
        let head = message.get(..HEADER_LIMIT).unwrap_or(message);
        let mut hops = Hops {
            received: 0,
            delivered_to: Vec::new(),
        };
        for line in head.split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.is_empty() {
                break;
            }
            let mut parts = line.splitn(2, |&b| b == b':');
            let (Some(name), Some(value)) = (parts.next(), parts.next()) else {
                continue;
            };
            if name.eq_ignore_ascii_case(b"received") {
                hops.received += 1;
            } else if name.eq_ignore_ascii_case(b"delivered-to") {
                let v = String::from_utf8_lossy(value);
                let v = v.trim().trim_start_matches('<').trim_end_matches('>');
                hops.delivered_to.push(v.to_ascii_lowercase());
            }
        }
        hops
    }

    /// Forget the `Delivered-To` headers: for collected mail they were added by the provider the
    /// message was collected from (a catch-all box), not by a pass through here; only the hop
    /// count guards such mail.
    pub fn without_delivered_to(mut self) -> Hops {
        self.delivered_to.clear();
        self
    }

    /// Why delivering to `address` would loop, if it would.
    pub fn check(&self, address: &str, max_hops: usize) -> Option<Outcome> {
        if self.received > max_hops {
            return Some(outcomes::too_many_hops(self.received, max_hops));
        }
        let a = address.to_ascii_lowercase();
        if self.delivered_to.contains(&a) {
            return Some(outcomes::forwarding_loop(address));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_hops_and_finds_delivered_to() {
        let msg = b"Received: from a\r\n\tby b\r\nReceived: from c\r\nDelivered-To: Neil@Example.test\r\nSubject: x\r\n\r\nReceived: not a header\r\n";
        let h = Hops::of(msg);
        assert_eq!(h.received, 2);
        assert!(h.check("someone@example.test", 2).is_none());
        assert!(h
            .check("someone@example.test", 1)
            .is_some_and(|w| w.to_string().starts_with("5.4.6")));
        assert!(h
            .check("neil@example.test", 50)
            .is_some_and(|w| w.text.contains("forwarding loop")));
        // Collected mail: the provider's Delivered-To is no loop, the hop count still counts.
        let collected = Hops::of(msg).without_delivered_to();
        assert!(collected.check("neil@example.test", 50).is_none());
        assert!(collected.check("neil@example.test", 1).is_some());
    }
}
