//! The message-only checks before a vacation auto-reply (RFC 5230 §4.5, RFC 3834 §2): whether
//! the mail is one that must never be answered. The once-per-period tracking and sending are the
//! delivery glue's.

use super::message::Message;

/// Why no auto-reply goes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NoReply {
    #[error("the envelope sender is <>")]
    NullSender,
    #[error("the sender is a mailer daemon or list owner")]
    SystemSender,
    #[error("the message comes from the user's own address")]
    OwnMessage,
    #[error("the message is Auto-Submitted")]
    AutoSubmitted,
    #[error("the message came from a mailing list")]
    MailingList,
    #[error("the message has Precedence bulk, list or junk")]
    Precedence,
    #[error("none of the user's addresses is in To, Cc or Bcc")]
    NotAddressed,
}

/// Whether a vacation reply may be sent for `message` (header and body; only the header is
/// read) sent by `envelope_from` to a user known by `user_addresses` (the recipient address and
/// the vacation `:addresses`). `Ok(())` means the message-only rules allow a reply.
pub fn should_reply(
    message: &[u8],
    envelope_from: &str,
    user_addresses: &[String],
) -> Result<(), NoReply> {
    if envelope_from.is_empty() {
        return Err(NoReply::NullSender);
    }
    let local = envelope_from
        .rsplit_once('@')
        .map_or(envelope_from, |(l, _)| l)
        .to_ascii_lowercase();
    if local == "mailer-daemon"
        || local == "listserv"
        || local == "majordomo"
        || local.starts_with("owner-")
        || local.ends_with("-request")
        || local.ends_with("-owner")
    {
        return Err(NoReply::SystemSender);
    }
    if user_addresses
        .iter()
        .any(|u| u.eq_ignore_ascii_case(envelope_from))
    {
        return Err(NoReply::OwnMessage);
    }
    let msg = Message::parse(message);
    for value in msg.header_values("auto-submitted") {
        if !value.trim().eq_ignore_ascii_case("no") {
            return Err(NoReply::AutoSubmitted);
        }
    }
    for list in [
        "list-id",
        "list-help",
        "list-subscribe",
        "list-unsubscribe",
        "list-post",
        "list-owner",
        "list-archive",
    ] {
        if msg.header_values(list).next().is_some() {
            return Err(NoReply::MailingList);
        }
    }
    for value in msg.header_values("precedence") {
        let v = value.trim().to_ascii_lowercase();
        if v == "bulk" || v == "list" || v == "junk" {
            return Err(NoReply::Precedence);
        }
    }
    let mut addressed = false;
    for field in ["to", "cc", "bcc", "resent-to", "resent-cc", "resent-bcc"] {
        for value in msg.header_values(field) {
            for addr in super::message::addresses(&value) {
                if user_addresses.iter().any(|u| u.eq_ignore_ascii_case(&addr)) {
                    addressed = true;
                }
            }
        }
    }
    if !addressed {
        return Err(NoReply::NotAddressed);
    }
    Ok(())
}
