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

/// The addr-specs in a header value; the whole value when it does not parse or holds no
/// address (an empty group): RFC 5228 §2.7.4 leaves invalid addresses to the implementation;
/// like Pigeonhole, `:all` sees the text and `:localpart`/`:domain` see nothing.
pub(crate) fn addresses(value: &str) -> Vec<String> {
    match mailparse::addrparse(value) {
        Ok(list)
            if !list.is_empty()
                && list.iter().any(|a| match a {
                    mailparse::MailAddr::Single(_) => true,
                    mailparse::MailAddr::Group(g) => !g.addrs.is_empty(),
                }) =>
        {
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
        _ => {
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

/// The body texts `body` tests: with `content_types` `None` the text parts (`:text`, HTML as
/// its text), else the parts whose type matches one entry (`""` all, `"text"` a main type,
/// `"text/html"` exact; a multipart type selects its prologue and epilogue).
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
        // A multipart's own text is its prologue and epilogue (RFC 5173 §5.2).
        if types.is_some_and(|list| list.iter().any(|t| wants(t, &mime, main))) {
            if let (Ok(raw), Some(boundary)) = (p.get_body_raw(), p.ctype.params.get("boundary")) {
                out.push(prologue_epilogue(&raw, boundary));
            }
        }
        for s in &p.subparts {
            collect_parts(s, types, out, depth + 1);
        }
        return;
    }
    let wanted = match types {
        None => main == "text",
        Some(list) => list.iter().any(|t| wants(t, &mime, main)),
    };
    if wanted {
        if let Ok(text) = p.get_body() {
            // `:text` reads HTML as the text a reader sees (as Pigeonhole does).
            if types.is_none() && mime == "text/html" {
                out.push(html_text(&text));
            } else {
                out.push(text);
            }
        }
    }
}

/// Whether a `:content` entry selects a part of type `mime` (main type `main`).
fn wants(entry: &str, mime: &str, main: &str) -> bool {
    let t = entry.to_ascii_lowercase();
    t.is_empty() || t == mime || (!t.contains('/') && t == main)
}

/// The text of a multipart body outside its parts: before the first boundary and after the
/// closing one.
fn prologue_epilogue(raw: &[u8], boundary: &str) -> String {
    let text = String::from_utf8_lossy(raw);
    let open = format!("--{boundary}");
    let close = format!("--{boundary}--");
    let mut out = String::new();
    let mut state = 0; // 0 prologue, 1 inside parts, 2 epilogue
    for line in text.split_inclusive('\n') {
        let bare = line.trim_end_matches(['\r', '\n']);
        if state < 2 && bare.trim_end() == close {
            state = 2;
            continue;
        }
        if state == 0 && bare.trim_end() == open {
            state = 1;
            continue;
        }
        if state != 1 {
            out.push_str(line);
        }
    }
    out
}

/// Text of an HTML document: tags dropped (with `script` and `style` content), entities decoded.
pub(crate) fn html_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        out.push_str(&entities(rest.get(..lt).unwrap_or_default()));
        let after = rest.get(lt..).unwrap_or_default();
        let end = after.find('>').map_or(after.len(), |e| e + 1);
        let tag = after.get(..end).unwrap_or_default().to_ascii_lowercase();
        rest = after.get(end..).unwrap_or_default();
        for skip in ["script", "style"] {
            if tag.starts_with(&format!("<{skip}")) {
                let close = format!("</{skip}");
                let lower = rest.to_ascii_lowercase();
                rest = match lower.find(&close) {
                    Some(at) => rest.get(at..).unwrap_or_default(),
                    None => "",
                };
            }
        }
    }
    out.push_str(&entities(rest));
    out
}

fn entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(rest.get(..amp).unwrap_or_default());
        let after = rest.get(amp + 1..).unwrap_or_default();
        let decoded = after.find(';').filter(|&e| e <= 10).and_then(|e| {
            let name = after.get(..e)?;
            let c = match name {
                "amp" => '&',
                "lt" => '<',
                "gt" => '>',
                "quot" => '"',
                "apos" => '\'',
                "nbsp" => '\u{a0}',
                _ => {
                    let num = name.strip_prefix('#')?;
                    let n = match num.strip_prefix(['x', 'X']) {
                        Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                        None => num.parse().ok()?,
                    };
                    char::from_u32(n)?
                }
            };
            Some((c, e))
        });
        match decoded {
            Some((c, e)) => {
                out.push(c);
                rest = after.get(e + 1..).unwrap_or_default();
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_becomes_text() {
        for (html, want) in [
            ("<p>a <b>b</b></p>", "a b"),
            (
                "x &amp; y &lt;z&gt; &#65;&#x42; &eacute;",
                "x & y <z> AB &eacute;",
            ),
            ("<style>p{}</style>t<script>alert(1)</script>u", "tu"),
            ("unclosed <b", "unclosed "),
            ("& alone", "& alone"),
        ] {
            assert_eq!(html_text(html), want, "{html}");
        }
    }

    #[test]
    fn prologue_and_epilogue() {
        let raw = b"pro\r\n--b\r\nx\r\n--b--\r\nepi\r\n";
        assert_eq!(prologue_epilogue(raw, "b"), "pro\r\nepi\r\n");
    }

    #[test]
    fn dates_parse_with_zones() {
        let d = parse_date("Fri, 04 Dec 2026 10:30:15 +0100")
            .unwrap_or(DateTime { unix: 0, offset: 0 });
        assert_eq!(d.offset, 60);
        assert_eq!(date_part(d.unix, 0, "time").as_deref(), Some("09:30:15"));
        assert_eq!(
            parse_date("4 Dec 26 10:30 EST").map(|d| d.offset),
            Some(-300)
        );
        assert_eq!(parse_date("not a date"), None);
        assert_eq!(parse_date("Fri, 32 Dec 2026 10:30:15 +0100"), None);
    }
}
