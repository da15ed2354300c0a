//! The message as the tests see it: header fields (editable for `editheader`), addresses in
//! them, dates, and the body's MIME parts for `body`.

/// One header field.
#[derive(Debug, Clone)]
pub(crate) struct Field {
    /// Lowercased name, for lookups.
    pub lname: String,
    /// The field as it appeared (name, colon, folded value), without the final line end.
    pub raw: Vec<u8>,
    /// The value unfolded, trimmed, without RFC 2047 decoding (for addresses and dates).
    pub value_raw: String,
    /// The value with RFC 2047 encoded-words decoded, when it has any (see [`Field::value`]).
    pub decoded: Option<String>,
}

impl Field {
    pub fn new(raw: Vec<u8>) -> Self {
        let mut f = Field {
            lname: String::new(),
            raw,
            value_raw: String::new(),
            decoded: None,
        };
        fill(&mut f);
        f
    }

    /// The value unfolded, trimmed, RFC 2047 encoded-words decoded (what `header` tests).
    pub fn value(&self) -> &str {
        self.decoded.as_deref().unwrap_or(&self.value_raw)
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Message<'a> {
    pub fields: Vec<Field>,
    /// Everything after the empty line that ends the header (empty if there is none).
    pub body: &'a [u8],
}

impl<'a> Message<'a> {
    pub fn parse(msg: &'a [u8]) -> Self {
        let mut fields: Vec<Field> = Vec::new();
        let mut i = 0usize;
        let mut body: &[u8] = &[];
        while i < msg.len() {
            let end = msg
                .get(i..)
                .and_then(|r| r.iter().position(|&c| c == b'\n'))
                .map_or(msg.len(), |p| i + p);
            let line = msg.get(i..end).unwrap_or_default();
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let next = (end + 1).min(msg.len());
            if line.is_empty() {
                body = msg.get(next..).unwrap_or_default();
                break;
            }
            if line.first().is_some_and(|c| *c == b' ' || *c == b'\t') {
                if let Some(f) = fields.last_mut() {
                    f.raw.extend_from_slice(b"\r\n");
                    f.raw.extend_from_slice(line);
                }
            } else if line.contains(&b':') {
                fields.push(Field {
                    lname: String::new(),
                    raw: line.to_vec(),
                    value_raw: String::new(),
                    decoded: None,
                });
            } else {
                // Not a header line: the header ended without an empty line.
                body = msg.get(i..).unwrap_or_default();
                break;
            }
            i = next;
        }
        for f in &mut fields {
            fill(f);
        }
        Message { fields, body }
    }

    /// Decoded values of the fields named `name` (case-insensitive), in order.
    pub fn header_values<'s>(&'s self, name: &'s str) -> impl Iterator<Item = String> + 's {
        self.fields
            .iter()
            .filter(move |f| f.lname.eq_ignore_ascii_case(name))
            .map(|f| f.value().to_string())
    }

    /// The header block as bytes: each field and CRLF.
    pub fn header_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for f in &self.fields {
            out.extend_from_slice(&f.raw);
            out.extend_from_slice(b"\r\n");
        }
        out
    }
}

/// Fill the derived parts of a field from `raw`.
pub(crate) fn fill(f: &mut Field) {
    let colon = f.raw.iter().position(|&c| c == b':').unwrap_or(f.raw.len());
    let name = f.raw.get(..colon).unwrap_or_default();
    f.lname = String::from_utf8_lossy(name.trim_ascii()).to_ascii_lowercase();
    let value = f.raw.get(colon + 1..).unwrap_or_default().trim_ascii();
    let raw = if value.contains(&b'\n') || value.contains(&b'\r') {
        let unfolded: Vec<u8> = value
            .iter()
            .copied()
            .filter(|&c| c != b'\r' && c != b'\n')
            .collect();
        String::from_utf8_lossy(&unfolded).trim().to_string()
    } else {
        String::from_utf8_lossy(value).into_owned()
    };
    f.decoded = raw.contains("=?").then(|| decode_words(&f.raw));
    f.value_raw = raw;
}

fn decode_words(field: &[u8]) -> String {
    match mailparse::parse_header(field) {
        Ok((h, _)) => h.get_value().trim().to_string(),
        Err(_) => String::from_utf8_lossy(field).into_owned(),
    }
}

/// Whether `name` is a valid header field name (RFC 5322 ftext: printable ASCII but ':').
pub(crate) fn valid_field_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| (33..=126).contains(&b) && b != b':')
}

/// The addr-specs in a header value; the whole value when it does not parse (RFC 5228 §2.7.4
/// leaves invalid addresses to the implementation; the text is tested as it is).
pub(crate) fn addresses(value: &str) -> Vec<String> {
    match mailparse::addrparse(value) {
        Ok(list) => {
            let mut out = Vec::new();
            for a in list.iter() {
                match a {
                    mailparse::MailAddr::Single(s) => out.push(s.addr.clone()),
                    mailparse::MailAddr::Group(g) => {
                        out.extend(g.addrs.iter().map(|s| s.addr.clone()))
                    }
                }
            }
            out
        }
        Err(_) => {
            let v = value.trim();
            if v.is_empty() {
                Vec::new()
            } else {
                vec![v.to_string()]
            }
        }
    }
}

/// Split an address into local part and domain at the last `@` (domain `None` without one).
pub(crate) fn split_address(addr: &str) -> (&str, Option<&str>) {
    match addr.rsplit_once('@') {
        Some((l, d)) => (l, Some(d)),
        None => (addr, None),
    }
}

/// A date: Unix seconds (UTC) and the zone offset it was written in, minutes east.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DateTime {
    pub unix: i64,
    pub offset: i32,
}

/// Parse an RFC 5322 date-time (`[Day,] D Mon YYYY HH:MM[:SS] zone`, obsolete zones too).
pub(crate) fn parse_date(s: &str) -> Option<DateTime> {
    let s = s.split('(').next().unwrap_or(s);
    let s = match s.find(',') {
        Some(p) => s.get(p + 1..)?,
        None => s,
    };
    let mut it = s.split_whitespace();
    let day: i64 = it.next()?.parse().ok()?;
    let mon = it.next()?.to_ascii_lowercase();
    let month = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ]
    .iter()
    .position(|m| mon.starts_with(m))? as i64
        + 1;
    let mut year: i64 = it.next()?.parse().ok()?;
    if year < 50 {
        year += 2000;
    } else if year < 1000 {
        year += 1900;
    }
    let time = it.next()?;
    let mut tp = time.split(':');
    let h: i64 = tp.next()?.parse().ok()?;
    let mi: i64 = tp.next()?.parse().ok()?;
    let sec: i64 = match tp.next() {
        Some(x) => x.parse().ok()?,
        None => 0,
    };
    if !(1..=31).contains(&day) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let zone = it.next().unwrap_or("-0000");
    let offset = parse_zone(zone).unwrap_or(0);
    let days = days_from_civil(year, month, day);
    let unix = days * 86400 + h * 3600 + mi * 60 + sec - i64::from(offset) * 60;
    Some(DateTime { unix, offset })
}

/// `+hhmm`/`-hhmm` or an obsolete zone name → minutes east.
pub(crate) fn parse_zone(z: &str) -> Option<i32> {
    let b = z.as_bytes();
    if b.len() == 5 && (b.first() == Some(&b'+') || b.first() == Some(&b'-')) {
        let n: i32 = z.get(1..)?.parse().ok()?;
        let (hh, mm) = (n / 100, n % 100);
        if mm > 59 {
            return None;
        }
        let m = hh * 60 + mm;
        return Some(if b.first() == Some(&b'-') { -m } else { m });
    }
    Some(match z.to_ascii_uppercase().as_str() {
        "UT" | "GMT" | "Z" => 0,
        "EST" => -300,
        "EDT" => -240,
        "CST" => -360,
        "CDT" => -300,
        "MST" => -420,
        "MDT" => -360,
        "PST" => -480,
        "PDT" => -420,
        _ => return None,
    })
}

/// Days since 1970-01-01 for a civil date (Howard Hinnant's algorithm).
pub(crate) fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// A date part (RFC 5260 §4.2) of `unix` seen in the zone `offset` (minutes east).
pub(crate) fn date_part(unix: i64, offset: i32, part: &str) -> Option<String> {
    let local = unix + i64::from(offset) * 60;
    let days = local.div_euclid(86400);
    let secs = local.rem_euclid(86400);
    let (y, m, d) = crate::proto::mail::date::civil_from_days(days);
    let (hh, mi, ss) = (secs / 3600, secs / 60 % 60, secs % 60);
    let sign = if offset < 0 { '-' } else { '+' };
    let (zh, zm) = (offset.abs() / 60, offset.abs() % 60);
    Some(match part.to_ascii_lowercase().as_str() {
        "year" => format!("{y:04}"),
        "month" => format!("{m:02}"),
        "day" => format!("{d:02}"),
        "date" => format!("{y:04}-{m:02}-{d:02}"),
        "julian" => (days + 40587).to_string(),
        "hour" => format!("{hh:02}"),
        "minute" => format!("{mi:02}"),
        "second" => format!("{ss:02}"),
        "time" => format!("{hh:02}:{mi:02}:{ss:02}"),
        // RFC 3339 writes UTC as "Z" (as Pigeonhole does).
        "iso8601" if offset == 0 => format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mi:02}:{ss:02}Z"),
        "iso8601" => format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mi:02}:{ss:02}{sign}{zh:02}:{zm:02}"),
        "std11" => {
            const WD: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
            const MO: [&str; 12] = [
                "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
            ];
            let wd = WD
                .get(days.rem_euclid(7) as usize)
                .copied()
                .unwrap_or("Thu");
            let mo = MO
                .get((m as usize).saturating_sub(1))
                .copied()
                .unwrap_or("Jan");
            format!("{wd}, {d:02} {mo} {y:04} {hh:02}:{mi:02}:{ss:02} {sign}{zh:02}{zm:02}")
        }
        "zone" => format!("{sign}{zh:02}{zm:02}"),
        "weekday" => ((days + 4).rem_euclid(7)).to_string(),
        _ => return None,
    })
}

/// Whether `part` names a date part.
pub(crate) fn valid_date_part(part: &str) -> bool {
    date_part(0, 0, part).is_some()
}

/// The body texts `body` tests: with `content_types` `None` the text parts (`:text`), else
/// the parts whose type matches one entry (`""` all, `"text"` a main type, `"text/html"` exact).
pub(crate) fn body_parts(message: &[u8], content_types: Option<&[String]>) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(parsed) = mailparse::parse_mail(message) else {
        return out;
    };
    collect_parts(&parsed, content_types, &mut out, 0);
    out
}

fn collect_parts(
    p: &mailparse::ParsedMail<'_>,
    types: Option<&[String]>,
    out: &mut Vec<String>,
    depth: usize,
) {
    if depth > 16 {
        return;
    }
    let mime = p.ctype.mimetype.to_ascii_lowercase();
    let (main, _) = mime.split_once('/').unwrap_or((mime.as_str(), ""));
    if !p.subparts.is_empty() || main == "multipart" {
        for s in &p.subparts {
            collect_parts(s, types, out, depth + 1);
        }
        return;
    }
    let wanted = match types {
        None => main == "text",
        Some(list) => list.iter().any(|t| {
            let t = t.to_ascii_lowercase();
            t.is_empty() || t == mime || (!t.contains('/') && t == main)
        }),
    };
    if wanted {
        if let Ok(text) = p.get_body() {
            out.push(text);
        }
    }
}
