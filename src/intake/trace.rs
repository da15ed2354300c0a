//! The trace header each origin puts in front of a message (RFC 5321 §4.4): SMTP's `Received:`
//! with the client's HELO, address, TLS and AUTH; sendmail's `by … (postern sendmail, uid N)`;
//! collect's naming the POP3 server and account; none on a notification (its own headers say
//! where it comes from).

use super::Origin;
use crate::proto::smtp::received::{rfc5322_date, Trace};
use crate::queue::spool::{QueueId, Recipient};

/// The trace header of a message from `origin` with id `id` received at `time` (CRLF line ends,
/// empty for none); `recipients` as given (SMTP names a single one in a `for` clause).
pub(super) fn header(
    origin: &Origin,
    hostname: &str,
    id: &QueueId,
    recipients: &[Recipient],
    time: u64,
) -> String {
    match origin {
        Origin::Smtp { client, .. } => Trace {
            helo: client.helo.as_deref(),
            ip: client.ip,
            hostname,
            esmtp: client.esmtp,
            tls: client.tls,
            authenticated: client.auth_user.is_some(),
            id: id.as_str(),
            single_recipient: match recipients {
                [only] => Some(only.address.as_str()),
                _ => None,
            },
            time,
        }
        .header(),
        Origin::Sendmail { uid, .. } => format!(
            "Received: by {hostname} (postern sendmail, uid {uid}) id {id};\r\n\t{}\r\n",
            rfc5322_date(time)
        ),
        Origin::Collect {
            account,
            server,
            peer,
            tls,
            ..
        } => format!(
            "Received: from {server} ({})\r\n\tby {hostname} (postern) with {} id {id}\r\n\t(collected for account {account});\r\n\t{}\r\n",
            peer.map(|p| format!("[{p}]")).unwrap_or_default(),
            if *tls { "POP3S" } else { "POP3" },
            rfc5322_date(time)
        ),
        Origin::Notification => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::smtp::Client;

    fn id() -> QueueId {
        QueueId::parse("1K0ZZXXEMNY00EZ400").expect("id")
    }

    #[test]
    fn each_origin_keeps_its_header() {
        let t = 1_700_000_000;
        let smtp = Origin::Smtp {
            client: Client {
                ip: Some([192, 0, 2, 1].into()),
                helo: Some("client.test".into()),
                esmtp: true,
                tls: true,
                ..Client::default()
            },
            session: None,
            smtputf8: false,
            dsn_ret: None,
            dsn_envid: None,
            requiretls: false,
        };
        let one = [Recipient::new("a@example.test")];
        assert_eq!(
            header(&smtp, "mx.test", &id(), &one, t),
            "Received: from client.test ([192.0.2.1])\r\n\tby mx.test (postern) with ESMTPS id \
             1K0ZZXXEMNY00EZ400 for <a@example.test>;\r\n\tTue, 14 Nov 2023 22:13:20 +0000\r\n"
        );
        let sendmail = Origin::Sendmail {
            uid: 1000,
            login: "ann".into(),
            dsn_ret: None,
            dsn_envid: None,
        };
        assert_eq!(
            header(&sendmail, "mx.test", &id(), &one, t),
            "Received: by mx.test (postern sendmail, uid 1000) id 1K0ZZXXEMNY00EZ400;\r\n\t\
             Tue, 14 Nov 2023 22:13:20 +0000\r\n"
        );
        let collect = Origin::Collect {
            account: "isp".into(),
            server: "pop.isp.test".into(),
            peer: Some([192, 0, 2, 9].into()),
            tls: false,
            uidl: "u1".into(),
        };
        assert_eq!(
            header(&collect, "mx.test", &id(), &one, t),
            "Received: from pop.isp.test ([192.0.2.9])\r\n\tby mx.test (postern) with POP3 id \
             1K0ZZXXEMNY00EZ400\r\n\t(collected for account isp);\r\n\t\
             Tue, 14 Nov 2023 22:13:20 +0000\r\n"
        );
        assert_eq!(header(&Origin::Notification, "mx.test", &id(), &one, t), "");
    }
}
