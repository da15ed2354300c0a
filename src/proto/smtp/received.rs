//! The `Received:` trace header (RFC 5321 §4.4).

// Re-exported for the branches in flight that still name it here; new code uses `crate::proto::mail::date`.
pub use crate::proto::mail::date::rfc5322_date;

/// What a Received header says about the session.
pub struct Trace<'a> {
    pub helo: Option<&'a str>,
    pub ip: Option<std::net::IpAddr>,
    pub hostname: &'a str,
    pub esmtp: bool,
    pub tls: bool,
    pub authenticated: bool,
    pub id: &'a str,
    /// Named in a `for` clause when there is exactly one recipient.
    pub single_recipient: Option<&'a str>,
    pub time: u64,
}

impl Trace<'_> {
    /// The header line, CRLF-terminated (folded before `by` and the date).
    pub fn header(&self) -> String {
        let proto = match (self.esmtp, self.tls, self.authenticated) {
            (false, _, _) => "SMTP",
            (true, false, false) => "ESMTP",
            (true, true, false) => "ESMTPS",
            (true, false, true) => "ESMTPA",
            (true, true, true) => "ESMTPSA",
        };
        let helo: String = self
            .helo
            .unwrap_or("unknown")
            .chars()
            .filter(|c| !c.is_control() && *c != '(' && *c != ')')
            .take(255)
            .collect();
        let from = match self.ip {
            Some(ip) => format!("from {helo} ([{ip}])"),
            None => "from local".to_string(),
        };
        let rcpt = self
            .single_recipient
            .map(|r| format!(" for <{r}>"))
            .unwrap_or_default();
        format!(
            "Received: {from}\r\n\tby {} (postern) with {proto} id {}{rcpt};\r\n\t{}\r\n",
            self.hostname,
            self.id,
            rfc5322_date(self.time)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn received_header() {
        let t = Trace {
            helo: Some("client.test"),
            ip: Some("127.0.0.1".parse().expect("ip")),
            hostname: "mail.example.test",
            esmtp: true,
            tls: true,
            authenticated: false,
            id: "ID1",
            single_recipient: Some("b@example.test"),
            time: 0,
        };
        assert_eq!(
            t.header(),
            "Received: from client.test ([127.0.0.1])\r\n\tby mail.example.test (postern) with ESMTPS id ID1 for <b@example.test>;\r\n\tThu, 1 Jan 1970 00:00:00 +0000\r\n"
        );
    }
}
