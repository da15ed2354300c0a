//! Local submission (`postern sendmail`): the command line of sendmail(1) as Postfix documents it
//! ([`parse_args`]), and turning a message from standard input into spool bytes ([`prepare`]).
//! Pure: the command ([`crate::cli`]) reads, writes and submits.

use std::path::PathBuf;

/// What a sendmail command line asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Read a message from standard input and send it (`-bm`, the default).
    #[default]
    Deliver,
    /// SMTP on standard input and output (`-bs`).
    Smtp,
    /// List the queue (`-bp`, `mailq`).
    ListQueue,
    /// Check the aliases file (`-bi`, `-I`, `newaliases`).
    NewAliases,
    /// Say where each recipient would go, send nothing (`-bv`).
    Verify,
    /// Run the queue now (`-q`, `-qR…`, `-qS…`).
    Flush,
    /// Accepted and nothing to do (`-q30m`: a queue interval, the running server has its own).
    Nothing,
}

/// The options of one sendmail command line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    pub mode: Mode,
    /// `-f` / `-r`: the envelope sender.
    pub from: Option<String>,
    /// `-F`: the sender's full name, for a `From:` header added when there is none.
    pub full_name: Option<String>,
    /// `-t`: recipients from the To, Cc and Bcc headers too.
    pub from_headers: bool,
    /// `-i`, `-oi`: a line with a single dot does not end the message.
    pub ignore_dots: bool,
    /// `-h N`: hops the message has made already.
    pub hops: Option<usize>,
    /// `-N`: RFC 3461 NOTIFY for every recipient (`never`, or `success,delay,failure`).
    pub notify: Option<String>,
    /// `-R`: RFC 3461 RET (`full` or `hdrs`).
    pub ret: Option<String>,
    /// `-V`: RFC 3461 ENVID.
    pub envid: Option<String>,
    /// `-v`: say what happened.
    pub verbose: bool,
    /// `-C FILE` (or `--config FILE`): the configuration file.
    pub config: Option<PathBuf>,
    /// `-odq`: queue only, no delivery attempt now.
    pub queue_only: bool,
    /// `--help`.
    pub help: bool,
    pub recipients: Vec<String>,
}

/// Options that take a value (`-fVALUE` or `-f VALUE`), as Postfix's sendmail(1) has them.
const WITH_VALUE: &str = "ABCFLNORVXbefhopr";
/// Options without one.
const FLAGS: &str = "GIUcimntvx";

/// Usage for `--help`.
pub const USAGE: &str = "usage: sendmail [options] [recipient ...]  (also run as mailq, newaliases)
  -t             recipients from the To, Cc and Bcc headers too
  -i, -oi        a lone dot does not end the message
  -f, -r ADDR    envelope sender (default: your login name)
  -F NAME        full name for the From: header added when there is none
  -N DSN         never, or any of success,delay,failure
  -R full|hdrs   what a bounce returns;  -V ENVID  envelope id
  -h N           hops made already;  -C FILE  configuration file
  -bm            send (the default);  -bs  SMTP on stdin/stdout
  -bp            list the queue (mailq);  -bi, -I  check the aliases (newaliases)
  -bv            say where each recipient goes, send nothing
  -q             run the queue now;  -odq  queue only, no attempt now
  -B, -o..., -O, -G, -L, -U, -X, -n, -m, -v, -x, -c, -e, -p   accepted
";

/// Parse a sendmail command line (without the program name). Options may be grouped (`-ti`),
/// their values attached or separate, and recipients may come between them; `--` ends the
/// options.
pub fn parse_args(args: &[String]) -> Result<Options, String> {
    let mut o = Options::default();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        if arg == "--" {
            o.recipients.extend(it.by_ref().cloned());
            break;
        }
        if arg == "--help" {
            o.help = true;
            continue;
        }
        if let Some(path) = arg.strip_prefix("--config=") {
            o.config = Some(PathBuf::from(path));
            continue;
        }
        if arg == "--config" {
            let v = it.next().ok_or("--config needs a file")?;
            o.config = Some(PathBuf::from(v));
            continue;
        }
        let Some(cluster) = arg.strip_prefix('-').filter(|c| !c.is_empty()) else {
            o.recipients.push(arg.clone());
            continue;
        };
        for (i, c) in cluster.char_indices() {
            let rest = cluster.get(i + c.len_utf8()..).unwrap_or("");
            if c == 'q' {
                o.mode = match rest.chars().next() {
                    None | Some('R') | Some('S') | Some('I') => Mode::Flush,
                    Some(_) => Mode::Nothing,
                };
                break;
            }
            if FLAGS.contains(c) {
                match c {
                    'i' => o.ignore_dots = true,
                    't' => o.from_headers = true,
                    'v' => o.verbose = true,
                    'I' => o.mode = Mode::NewAliases,
                    _ => {}
                }
                continue;
            }
            if !WITH_VALUE.contains(c) {
                return Err(format!("unknown option -{c}"));
            }
            let value = if rest.is_empty() {
                it.next()
                    .cloned()
                    .ok_or_else(|| format!("option -{c} needs a value"))?
            } else {
                rest.to_string()
            };
            option(&mut o, c, value)?;
            break;
        }
    }
    Ok(o)
}

/// One option with its value.
fn option(o: &mut Options, c: char, value: String) -> Result<(), String> {
    match c {
        'b' => {
            o.mode = match value.as_str() {
                "m" => Mode::Deliver,
                "s" => Mode::Smtp,
                "p" => Mode::ListQueue,
                "i" => Mode::NewAliases,
                "v" => Mode::Verify,
                "d" | "D" => {
                    return Err("-bd: run `postern serve` or `postern smtpd` instead".into())
                }
                other => return Err(format!("-b{other} is not supported")),
            }
        }
        'f' | 'r' => o.from = Some(value),
        'F' => o.full_name = Some(value),
        'C' => o.config = Some(PathBuf::from(value)),
        'h' => {
            o.hops = Some(
                value
                    .parse()
                    .map_err(|_| format!("-h {value:?}: the hop count is a number"))?,
            )
        }
        'N' => {
            let v = value.to_ascii_lowercase();
            let ok = v == "never"
                || v.split(',')
                    .all(|w| matches!(w.trim(), "success" | "delay" | "failure"));
            if !ok {
                return Err(format!(
                    "-N {value:?}: use never, or any of success,delay,failure"
                ));
            }
            o.notify = Some(v.replace(' ', "").to_ascii_uppercase());
        }
        'R' => {
            let v = value.to_ascii_lowercase();
            if v != "full" && v != "hdrs" {
                return Err(format!("-R {value:?}: use full or hdrs"));
            }
            o.ret = Some(v.to_ascii_uppercase());
        }
        'V' => {
            if value.is_empty() || value.len() > 100 || !value.bytes().all(|b| b.is_ascii_graphic())
            {
                return Err(format!(
                    "-V {value:?}: an envelope id is up to 100 printable characters"
                ));
            }
            o.envid = Some(value);
        }
        'o' => match value.as_str() {
            "i" => o.ignore_dots = true,
            "dq" => o.queue_only = true,
            // -oem, -oep, -odi, -odb, -oA…, -om, -o7, -o8, -oX… and others: accepted.
            _ => {}
        },
        // -B 8BITMIME/7BIT, -O option=value, -L label, -X logfile, -A, -e, -p: accepted.
        _ => {}
    }
    Ok(())
}

/// A message made ready for the spool.
pub struct Prepared {
    /// CRLF line ends, Bcc removed, Date/Message-ID added when missing.
    pub bytes: Vec<u8>,
    /// The original header section (for `-t` recipient extraction, Bcc included).
    pub headers_for_rcpts: Vec<u8>,
}

/// Normalise line ends to CRLF, stop at a lone `.` line unless `ignore_dots`, drop Bcc, and add
/// the Date and Message-ID headers a message must have when it has none.
///
/// Standard input is LF-terminated text: every bare LF — and every bare CR, which is a line end
/// too — becomes CRLF before anything else, as every MTA does with local submissions (refusing
/// them would refuse every Unix mail program). Nothing stored can then carry a bare line end.
pub fn prepare(raw: &[u8], ignore_dots: bool, hostname: &str, from: Option<&str>) -> Prepared {
    let raw = crate::proto::smtp::lineends::canonical(raw);
    let mut lines: Vec<&[u8]> = Vec::new();
    for line in raw.split_inclusive(|&b| b == b'\n') {
        let content = line
            .strip_suffix(b"\n")
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
            .unwrap_or(line);
        if !ignore_dots && content == b"." {
            break;
        }
        lines.push(content);
    }
    let split = lines
        .iter()
        .position(|l| l.is_empty())
        .unwrap_or(lines.len());
    let (headers, body) = lines.split_at(split);
    let mut out = Vec::with_capacity(raw.len() + 256);
    let mut original = Vec::new();
    let mut has_date = false;
    let mut has_msgid = false;
    let mut has_from = false;
    let mut in_bcc = false;
    for h in headers {
        original.extend_from_slice(h);
        original.extend_from_slice(b"\r\n");
        let continuation = h.first().is_some_and(|b| *b == b' ' || *b == b'\t');
        if !continuation {
            let name = h.split(|&b| b == b':').next().unwrap_or(b"");
            in_bcc = name.eq_ignore_ascii_case(b"bcc");
            has_date |= name.eq_ignore_ascii_case(b"date");
            has_msgid |= name.eq_ignore_ascii_case(b"message-id");
            has_from |= name.eq_ignore_ascii_case(b"from");
        }
        if !in_bcc {
            out.extend_from_slice(h);
            out.extend_from_slice(b"\r\n");
        }
    }
    let now = crate::queue::spool::now();
    if let Some(from) = from.filter(|_| !has_from) {
        out.extend_from_slice(format!("From: {from}\r\n").as_bytes());
    }
    if !has_date {
        out.extend_from_slice(
            format!("Date: {}\r\n", crate::proto::mail::date::rfc5322_date(now)).as_bytes(),
        );
    }
    if !has_msgid {
        let id = crate::queue::spool::QueueId::generate();
        out.extend_from_slice(format!("Message-ID: <{id}@{hostname}>\r\n").as_bytes());
    }
    for l in body {
        out.extend_from_slice(l);
        out.extend_from_slice(b"\r\n");
    }
    Prepared {
        bytes: out,
        headers_for_rcpts: original,
    }
}

/// Addresses in the To, Cc and Bcc headers.
pub fn header_recipients(headers: &[u8]) -> Vec<String> {
    let Ok((parsed, _)) = mailparse::parse_headers(headers) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for h in parsed.iter() {
        let key = h.get_key().to_ascii_lowercase();
        if !matches!(key.as_str(), "to" | "cc" | "bcc") {
            continue;
        }
        match mailparse::addrparse_header(h) {
            Ok(list) if !list.is_empty() => {
                for addr in list.iter() {
                    match addr {
                        mailparse::MailAddr::Single(s) => out.push(s.addr.clone()),
                        mailparse::MailAddr::Group(g) => {
                            out.extend(g.addrs.iter().map(|s| s.addr.clone()))
                        }
                    }
                }
            }
            // Bare local names (`To: root`, `To: root, bob`), which cron and scripts write.
            _ => out.extend(bare_names(&h.get_value())),
        }
    }
    out
}

/// The addresses of a header value that is a plain list: `root, Bob <bob>`.
fn bare_names(value: &str) -> Vec<String> {
    value
        .split(',')
        .filter_map(|part| {
            let part = part.trim();
            let addr = match (part.find('<'), part.rfind('>')) {
                (Some(a), Some(b)) if a < b => part.get(a + 1..b)?,
                _ => part.split_whitespace().next()?,
            };
            let addr = addr.trim();
            (!addr.is_empty() && !addr.contains(['"', '(', ')', ';', ':']))
                .then(|| addr.to_string())
        })
        .collect()
}

/// A bare local name gets the origin domain: `root` → `root@example.test`.
pub fn qualify(addr: &str, origin: &str) -> String {
    if addr.is_empty() || addr.contains('@') {
        addr.to_string()
    } else {
        format!("{addr}@{origin}")
    }
}

/// The `From:` header value for `sender`, with the full name when there is one
/// (`"Cron Daemon" <root@example.test>`).
pub fn from_header(sender: &str, full_name: Option<&str>) -> String {
    match full_name.map(str::trim).filter(|n| !n.is_empty()) {
        Some(name) => {
            let name: String = name.chars().filter(|c| !c.is_control()).take(200).collect();
            let plain = name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || " !#$%&'*+-/=?^_`{|}~".contains(c));
            if plain {
                format!("{name} <{sender}>")
            } else {
                let quoted = name.replace('\\', "\\\\").replace('"', "\\\"");
                format!("\"{quoted}\" <{sender}>")
            }
        }
        None => sender.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepares_local_submissions() {
        let p = prepare(
            b"To: a@x.test\nBcc: secret@x.test,\n  other@x.test\nSubject: s\n\nbody\n.\nafter\n",
            false,
            "h.test",
            Some("Cron <root@h.test>"),
        );
        let text = String::from_utf8(p.bytes).expect("utf8");
        assert!(
            text.starts_with("To: a@x.test\r\nSubject: s\r\nFrom: Cron <root@h.test>\r\nDate: "),
            "{text}"
        );
        assert!(text.contains("Message-ID: <"));
        assert!(text.ends_with("\r\n\r\nbody\r\n"));
        assert!(!text.contains("secret"));
        let mut rcpts = header_recipients(&p.headers_for_rcpts);
        rcpts.sort();
        assert_eq!(rcpts, ["a@x.test", "other@x.test", "secret@x.test"]);
        let p = prepare(
            b"To: root\nCc: Bob <bob>, carol\n\nx\n",
            false,
            "h.test",
            None,
        );
        assert_eq!(
            header_recipients(&p.headers_for_rcpts),
            ["root", "bob", "carol"]
        );
        let p = prepare(
            b"From: me@x.test\nSubject: s\n\n.\nmore\n",
            true,
            "h.test",
            Some("x"),
        );
        assert!(!String::from_utf8_lossy(&p.bytes).contains("From: x"));
        assert!(p.bytes.ends_with(b"\r\n\r\n.\r\nmore\r\n"));
        // Bare CR is a line end too; nothing bare is left.
        let p = prepare(
            b"Subject: s\rBcc: hidden@x.test\n\na\r.\rb\r\n",
            true,
            "h.test",
            None,
        );
        assert!(crate::proto::smtp::lineends::is_canonical(&p.bytes));
        assert!(!String::from_utf8_lossy(&p.bytes).contains("hidden"));
        assert!(p.bytes.ends_with(b"\r\n\r\na\r\n.\r\nb\r\n"));
        assert_eq!(qualify("root", "h.test"), "root@h.test");
        assert_eq!(qualify("a@b.test", "h.test"), "a@b.test");
        assert_eq!(
            from_header("root@h.test", Some("CronDaemon")),
            "CronDaemon <root@h.test>"
        );
        assert_eq!(
            from_header("root@h.test", Some("O. \"Ops\" Team")),
            "\"O. \\\"Ops\\\" Team\" <root@h.test>"
        );
        assert_eq!(from_header("root@h.test", Some(" ")), "root@h.test");
    }

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_command_lines_of_cron_and_cronie() {
        // Debian cron.
        let o = parse_args(&args(&["-i", "-FCronDaemon", "-B8BITMIME", "-oem", "root"])).unwrap();
        assert!(o.ignore_dots && !o.from_headers);
        assert_eq!(o.full_name.as_deref(), Some("CronDaemon"));
        assert_eq!(o.recipients, ["root"]);
        assert_eq!(o.mode, Mode::Deliver);
        // cronie.
        let o = parse_args(&args(&[
            "-FCronDaemon",
            "-i",
            "-odi",
            "-oem",
            "-oi",
            "-t",
            "-f",
            "root",
        ]))
        .unwrap();
        assert!(o.ignore_dots && o.from_headers && !o.queue_only);
        assert_eq!(o.from.as_deref(), Some("root"));
        assert!(o.recipients.is_empty());
    }

    #[test]
    fn every_documented_option_is_taken() {
        let o = parse_args(&args(&[
            "-ti",
            "-r",
            "me@x.test",
            "-N",
            "success,failure",
            "-R",
            "hdrs",
            "-V",
            "env-1",
            "-h",
            "3",
            "-v",
            "-G",
            "-U",
            "-n",
            "-m",
            "-x",
            "-c",
            "-L",
            "lbl",
            "-X",
            "/dev/null",
            "-O",
            "a=b",
            "-B",
            "7BIT",
            "-oA/etc/aliases",
            "-odq",
            "-C/etc/p.toml",
            "-e",
            "m",
            "-p",
            "esmtp",
            "--",
            "-odd@x.test",
        ]))
        .unwrap();
        assert!(o.from_headers && o.ignore_dots && o.verbose && o.queue_only);
        assert_eq!(o.from.as_deref(), Some("me@x.test"));
        assert_eq!(o.notify.as_deref(), Some("SUCCESS,FAILURE"));
        assert_eq!(o.ret.as_deref(), Some("HDRS"));
        assert_eq!(o.envid.as_deref(), Some("env-1"));
        assert_eq!(o.hops, Some(3));
        assert_eq!(o.config, Some(PathBuf::from("/etc/p.toml")));
        assert_eq!(o.recipients, ["-odd@x.test"]);
        for (a, mode) in [
            ("-bs", Mode::Smtp),
            ("-bp", Mode::ListQueue),
            ("-bi", Mode::NewAliases),
            ("-I", Mode::NewAliases),
            ("-bv", Mode::Verify),
            ("-bm", Mode::Deliver),
            ("-q", Mode::Flush),
            ("-qRexample.test", Mode::Flush),
            ("-q30m", Mode::Nothing),
        ] {
            assert_eq!(parse_args(&args(&[a])).unwrap().mode, mode, "{a}");
        }
        for bad in [
            &["-bd"][..],
            &["-f"],
            &["-N", "sometimes"],
            &["-R", "all"],
            &["-h", "x"],
            &["-k"],
        ] {
            assert!(parse_args(&args(bad)).is_err(), "{bad:?}");
        }
    }
}
