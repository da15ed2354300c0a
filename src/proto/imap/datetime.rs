//! IMAP dates (`dd-Mon-yyyy`) and date-times (`"dd-Mon-yyyy hh:mm:ss +zzzz"`),
//! plus a lenient parser for RFC 5322 `Date:` header values (used by SENT* search keys).

use std::fmt;

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A calendar date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    /// Four-digit year.
    pub year: i32,
    /// 1..=12
    pub month: u8,
    /// 1..=31 (checked against the month)
    pub day: u8,
}

/// A date and time with the zone offset it was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DateTime {
    /// The local date.
    pub date: Date,
    /// 0..=23
    pub hour: u8,
    /// 0..=59
    pub minute: u8,
    /// 0..=60
    pub second: u8,
    /// Offset from UTC in minutes (`+0100` is 60).
    pub offset_minutes: i32,
}

impl Date {
    /// A validated date.
    pub fn new(year: i32, month: u8, day: u8) -> Option<Date> {
        let valid = (1..=12).contains(&month)
            && day >= 1
            && day <= days_in_month(year, month)
            && (1..=9999).contains(&year);
        valid.then_some(Date { year, month, day })
    }

    /// Parses IMAP `date-text` (`1-Feb-1994` or `01-Feb-1994`), without quotes.
    pub fn parse_imap(text: &str) -> Option<Date> {
        let mut it = text.splitn(3, '-');
        let day = it.next()?;
        let month = it.next()?;
        let year = it.next()?;
        if day.is_empty() || day.len() > 2 || year.len() != 4 {
            return None;
        }
        let day: u8 = digits(day)?;
        let year: i32 = digits(year)?;
        Date::new(year, month_number(month)?, day)
    }

    /// Days since 1970-01-01.
    pub fn days_since_epoch(&self) -> i64 {
        // Howard Hinnant's days_from_civil.
        let y = i64::from(self.year) - i64::from(self.month <= 2);
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let m = i64::from(self.month);
        let mp = (m + 9) % 12;
        let doy = (153 * mp + 2) / 5 + i64::from(self.day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    /// The date of a day count since 1970-01-01.
    pub fn from_days_since_epoch(days: i64) -> Date {
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
        let year = (yoe + era * 400 + i64::from(month <= 2)) as i32;
        Date { year, month, day }
    }
}

impl DateTime {
    /// Parses IMAP `date-time` without the surrounding quotes:
    /// `dd-Mon-yyyy hh:mm:ss +zzzz` where the day may be space-padded (` 7-Feb-1994`).
    pub fn parse_imap(text: &str) -> Option<DateTime> {
        let text = text.strip_prefix(' ').unwrap_or(text);
        let mut parts = text.split(' ');
        let date = Date::parse_imap(parts.next()?)?;
        let time = parts.next()?;
        let zone = parts.next()?;
        if parts.next().is_some() || time.len() != 8 {
            return None;
        }
        let (hour, minute, second) = parse_time(time)?;
        let offset_minutes = parse_zone(zone)?;
        Some(DateTime {
            date,
            hour,
            minute,
            second,
            offset_minutes,
        })
    }

    /// Builds a date-time from seconds since the epoch, presented in `offset_minutes`.
    pub fn from_unix(seconds: i64, offset_minutes: i32) -> DateTime {
        let local = seconds + i64::from(offset_minutes) * 60;
        let days = local.div_euclid(86_400);
        let secs = local.rem_euclid(86_400);
        DateTime {
            date: Date::from_days_since_epoch(days),
            hour: (secs / 3600) as u8,
            minute: (secs / 60 % 60) as u8,
            second: (secs % 60) as u8,
            offset_minutes,
        }
    }

    /// Seconds since the epoch (UTC).
    pub fn unix(&self) -> i64 {
        self.date.days_since_epoch() * 86_400
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second)
            - i64::from(self.offset_minutes) * 60
    }

    /// Parses an RFC 5322 `Date:` value leniently (day-of-week optional, comments and
    /// obsolete zone names accepted, two-digit years mapped per RFC 5322 §4.3).
    pub fn parse_rfc5322(text: &str) -> Option<DateTime> {
        let text = strip_comments(text);
        let text = match text.split_once(',') {
            Some((_, rest)) => rest,
            None => text.as_str(),
        };
        let mut words = text.split_whitespace();
        let day: u8 = digits(words.next()?)?;
        let month = month_number(words.next()?)?;
        let year_text = words.next()?;
        let mut year: i32 = digits(year_text)?;
        if year_text.len() <= 2 {
            year += if year < 50 { 2000 } else { 1900 };
        } else if year_text.len() == 3 {
            year += 1900;
        }
        let date = Date::new(year, month, day)?;
        let (hour, minute, second) = match words.next() {
            Some(time) => parse_time_lenient(time)?,
            None => (0, 0, 0),
        };
        let offset_minutes = words.next().and_then(parse_zone_lenient).unwrap_or(0);
        Some(DateTime {
            date,
            hour,
            minute,
            second,
            offset_minutes,
        })
    }
}

fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut depth = 0u32;
    for c in text.chars() {
        match c {
            '(' => depth += 1,
            ')' if depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

fn digits<T: std::str::FromStr>(text: &str) -> Option<T> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn month_number(name: &str) -> Option<u8> {
    MONTHS
        .iter()
        .position(|m| m.eq_ignore_ascii_case(name))
        .map(|i| i as u8 + 1)
}

fn days_in_month(year: i32, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

fn parse_time(text: &str) -> Option<(u8, u8, u8)> {
    let b = text.as_bytes();
    if b.len() != 8 || b.get(2) != Some(&b':') || b.get(5) != Some(&b':') {
        return None;
    }
    check_time(
        digits(text.get(0..2)?)?,
        digits(text.get(3..5)?)?,
        digits(text.get(6..8)?)?,
    )
}

fn parse_time_lenient(text: &str) -> Option<(u8, u8, u8)> {
    let mut it = text.split(':');
    let h = digits(it.next()?)?;
    let m = digits(it.next()?)?;
    let s = match it.next() {
        Some(s) => digits(s)?,
        None => 0,
    };
    check_time(h, m, s)
}

fn check_time(h: u8, m: u8, s: u8) -> Option<(u8, u8, u8)> {
    (h < 24 && m < 60 && s <= 60).then_some((h, m, s))
}

fn parse_zone(text: &str) -> Option<i32> {
    let (&sign, rest) = text.as_bytes().split_first()?;
    if rest.len() != 4 || !matches!(sign, b'+' | b'-') || !rest.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let hours: i32 = digits(text.get(1..3)?)?;
    let minutes: i32 = digits(text.get(3..5)?)?;
    if minutes >= 60 {
        return None;
    }
    let total = hours * 60 + minutes;
    Some(if sign == b'-' { -total } else { total })
}

fn parse_zone_lenient(text: &str) -> Option<i32> {
    parse_zone(text).or_else(|| {
        let hours = match text.to_ascii_uppercase().as_str() {
            "UT" | "GMT" | "Z" => 0,
            "EDT" => -4,
            "EST" | "CDT" => -5,
            "CST" | "MDT" => -6,
            "MST" | "PDT" => -7,
            "PST" => -8,
            _ => return None,
        };
        Some(hours * 60)
    })
}

/// The three-letter name of month `m` (1–12; out-of-range months are clamped).
fn month_name(m: u8) -> &'static str {
    let index = usize::from(m.clamp(1, 12)) - 1;
    MONTHS.get(index).copied().unwrap_or("Jan")
}

impl fmt::Display for Date {
    /// `d-Mon-yyyy` as in IMAP `date`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}-{}-{:04}",
            self.day,
            month_name(self.month),
            self.year
        )
    }
}

impl fmt::Display for DateTime {
    /// IMAP `date-time` without quotes: `07-Feb-1994 21:52:25 -0800` (2-digit day).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let month = month_name(self.date.month);
        let sign = if self.offset_minutes < 0 { '-' } else { '+' };
        let off = self.offset_minutes.unsigned_abs();
        write!(
            f,
            "{:02}-{}-{:04} {:02}:{:02}:{:02} {}{:02}{:02}",
            self.date.day,
            month,
            self.date.year,
            self.hour,
            self.minute,
            self.second,
            sign,
            off / 60,
            off % 60
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imap_dates() {
        type Ymd = Option<(i32, u8, u8)>;
        let cases: &[(&str, Ymd)] = &[
            ("1-Feb-1994", Some((1994, 2, 1))),
            ("01-feb-1994", Some((1994, 2, 1))),
            ("29-Feb-2024", Some((2024, 2, 29))),
            ("29-Feb-2023", None),
            ("31-Apr-2023", None),
            ("0-Jan-2020", None),
            ("1-Foo-2020", None),
            ("1-Jan-20", None),
            ("123-Jan-2020", None),
            ("", None),
        ];
        for &(text, want) in cases {
            let got = Date::parse_imap(text).map(|d| (d.year, d.month, d.day));
            assert_eq!(got, want, "{text}");
        }
    }

    #[test]
    fn imap_date_times() {
        let dt = DateTime::parse_imap("17-Jul-1996 02:44:25 -0700").unwrap();
        assert_eq!(dt.to_string(), "17-Jul-1996 02:44:25 -0700");
        assert_eq!(dt.unix(), 837_596_665);
        let padded = DateTime::parse_imap(" 7-Feb-1994 21:52:25 +0130").unwrap();
        assert_eq!(padded.offset_minutes, 90);
        assert_eq!(padded.to_string(), "07-Feb-1994 21:52:25 +0130");
        for bad in [
            "17-Jul-1996 02:44 -0700",
            "17-Jul-1996 25:00:00 +0000",
            "17-Jul-1996 02:44:25 0700",
            "17-Jul-1996 02:44:25 +0700 x",
            "17-Jul-1996 02:44:25 +1\u{20ac}",
        ] {
            assert_eq!(DateTime::parse_imap(bad), None, "{bad}");
        }
    }

    #[test]
    fn epoch_round_trip() {
        for secs in [0i64, 837_596_665, 951_782_400, -86_400, 4_102_444_800] {
            assert_eq!(DateTime::from_unix(secs, 0).unix(), secs);
            assert_eq!(DateTime::from_unix(secs, -420).unix(), secs);
        }
        assert_eq!(
            DateTime::from_unix(0, 0).to_string(),
            "01-Jan-1970 00:00:00 +0000"
        );
    }

    #[test]
    fn rfc5322_dates() {
        let cases: &[(&str, Option<&str>)] = &[
            (
                "Mon, 7 Feb 1994 21:52:25 -0800 (PST)",
                Some("07-Feb-1994 21:52:25 -0800"),
            ),
            ("7 Feb 1994 21:52 -0800", Some("07-Feb-1994 21:52:00 -0800")),
            (
                "Fri, 21 Nov 97 09:55:06 GMT",
                Some("21-Nov-1997 09:55:06 +0000"),
            ),
            (
                "Fri, 21 Nov 03 09:55:06 EST",
                Some("21-Nov-2003 09:55:06 -0500"),
            ),
            ("garbage", None),
            ("", None),
            // A zone with a multi-byte character where the digits belong (a stranger's Date:
            // header): an unknown zone, read as +0000 like any other.
            (
                "Mon, 7 Feb 1994 21:52:25 +1\u{20ac}",
                Some("07-Feb-1994 21:52:25 +0000"),
            ),
            (
                "Mon, 7 Feb 1994 21:52:25 -\u{e9}00",
                Some("07-Feb-1994 21:52:25 +0000"),
            ),
        ];
        for &(text, want) in cases {
            let got = DateTime::parse_rfc5322(text).map(|d| d.to_string());
            assert_eq!(got.as_deref(), want, "{text}");
        }
    }
}
