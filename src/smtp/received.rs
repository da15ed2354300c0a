//! The `Received:` trace header (RFC 5321 §4.4) and RFC 5322 dates.

/// RFC 5322 date-time for a Unix time, in UTC: `Tue, 24 Nov 2026 06:00:00 +0000`.
pub fn rfc5322_date(unix: u64) -> String {
    let days = (unix / 86400) as i64;
    let secs = unix % 86400;
    let (y, m, d) = civil_from_days(days);
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][(days.rem_euclid(7)) as usize];
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ][(m - 1) as usize];
    format!(
        "{weekday}, {d} {month} {y} {:02}:{:02}:{:02} +0000",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Days since 1970-01-01 → (year, month 1-12, day 1-31). Howard Hinnant's algorithm.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719468;
    let era = z.div_euclid(146097);
    let doe = z.rem_euclid(146097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

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
    fn dates() {
        assert_eq!(rfc5322_date(0), "Thu, 1 Jan 1970 00:00:00 +0000");
        assert_eq!(
            rfc5322_date(1_795_500_000),
            "Tue, 24 Nov 2026 06:00:00 +0000"
        );
        assert_eq!(rfc5322_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 +0000");
    }

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
