//! Man pages and shell completions, generated from the clap definition (`bin/gen-docs`).

use std::io;
use std::path::Path;

use clap::CommandFactory;

use super::Cli;

/// The end of `postern --help` and of `postern(1)`: files, environment, exit status.
pub const AFTER_HELP: &str = "\
Files:
  /etc/postern/postern.toml   the configuration (--config, POSTERN_CONFIG): postern.toml(5)
  /etc/postern/users.toml     the users file beside it (paths.users), mode 0600
  /var/spool/postern/         the queue: queue/ hold/ tmp/ state/ (paths.spool)
  /var/mail/postern/USER/     one maildir per user, with its mailbox state (paths.mail)

Environment:
  POSTERN_CONFIG              the configuration file when --config is not given
  POSTERN_HOST_CONFIG         this host's override file, merged over the configuration (hosts
                              sharing one spool and mail volume: [cluster] in postern.toml(5))
  LISTEN_FDS, LISTEN_PID      listening sockets from systemd (Accept=no)
  TCPREMOTEIP, TCPREMOTEPORT  the client of an --inetd session on a pipe (also REMOTE_HOST,
                              REMOTE_ADDR, SOCAT_PEERADDR)

Exit status (sysexits.h):
  0 success; 64 usage; 65 bad input data; 66 missing input (config file); 67 no such user;
  69 unavailable; 70 internal error; 71 system error (cannot listen); 73 cannot create;
  74 I/O error; 75 temporary failure, try again; 78 configuration error

Multi-call: installed as postern-smtpd, postern-deliver, ... or sendmail, the binary runs that
subcommand.";

/// The end of `postern smtpd|popd|imapd --help`: the hosting modes.
pub const HOSTING: &str = "\
Hosting modes:
  --inetd        one connection on stdin/stdout: inetd, systemd Accept=yes, socat EXEC, tcpserver
  LISTEN_FDS     no flag and sockets passed by systemd (Accept=no): serve them
  --listen ADDR  standalone: listen on ADDR (repeatable)
  (none)         listen on the configured [[listener]]s of this protocol (--listener NAME: one)

Examples of systemd units, an inetd.conf line and cron lines are in examples/.";

/// Write `man/postern.1`, one page per subcommand (`postern-queue.1`, …), and the bash, zsh and
/// fish completions under `completions/`.
pub fn generate(root: &Path) -> io::Result<()> {
    let man_dir = root.join("man");
    let comp_dir = root.join("completions");
    std::fs::create_dir_all(&man_dir)?;
    std::fs::create_dir_all(&comp_dir)?;
    let cmd = Cli::command();
    clap_mangen::generate_to(cmd.clone(), &man_dir)?;
    std::fs::write(man_dir.join("postern.toml.5"), config_man_page())?;
    for (shell, file) in [
        (clap_complete::Shell::Bash, "postern.bash"),
        (clap_complete::Shell::Zsh, "_postern"),
        (clap_complete::Shell::Fish, "postern.fish"),
    ] {
        let mut out = Vec::new();
        clap_complete::generate(shell, &mut cmd.clone(), "postern", &mut out);
        std::fs::write(comp_dir.join(file), out)?;
    }
    Ok(())
}

/// The README, whose "Configuration reference" is also `postern.toml(5)`.
const README: &str = include_str!("../../README.md");

/// `man 5 postern.toml`: the README's "Configuration reference" section (one source for both),
/// each `### [section]` a subsection and each table row a tagged paragraph.
pub fn config_man_page() -> String {
    let reference = README
        .split("\n## Configuration reference\n")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .unwrap_or("");
    let mut out = format!(
        ".TH POSTERN.TOML 5 \"\" \"postern {}\" \"File Formats\"\n\
         .SH NAME\npostern.toml \\- the postern mail server configuration\n\
         .SH SYNOPSIS\n/etc/postern/postern.toml (or \\fB\\-\\-config\\fR \\fIFILE\\fR, or \\fBPOSTERN_CONFIG\\fR)\n\
         .SH DESCRIPTION\n",
        env!("CARGO_PKG_VERSION")
    );
    let mut in_paragraph = false;
    for line in reference.lines() {
        let line = line.trim_end();
        if let Some(heading) = line.strip_prefix("### ") {
            out.push_str(&format!(".SS {}\n", roff(&heading.replace('`', ""))));
            in_paragraph = false;
        } else if line.starts_with('|') {
            let cells = table_cells(line);
            let header = cells.first().is_some_and(|c| c == "key");
            let rule = cells.iter().all(|c| c.chars().all(|ch| ch == '-'));
            if header || rule {
                continue;
            }
            if let [key, default, meaning, ..] = cells.as_slice() {
                out.push_str(&format!(
                    ".TP\n{} (default: {})\n{}\n",
                    inline(key),
                    inline(default),
                    inline(meaning)
                ));
            }
            in_paragraph = false;
        } else if line.is_empty() {
            in_paragraph = false;
        } else {
            if !in_paragraph {
                out.push_str(".PP\n");
                in_paragraph = true;
            }
            out.push_str(&inline(line));
            out.push('\n');
        }
    }
    out.push_str(
        ".SH FILES\n/etc/postern/postern.toml, /etc/postern/users.toml\n\
         .SH SEE ALSO\n\\fBpostern\\fR(1), \\fBpostern\\-config\\-check\\fR(1)\n",
    );
    out
}

/// The cells of a Markdown table row (a `|` inside backticks is text).
fn table_cells(line: &str) -> Vec<String> {
    let mut cells = Vec::new();
    let mut cell = String::new();
    let mut code = false;
    for c in line.trim().trim_start_matches('|').chars() {
        match c {
            '`' => {
                code = !code;
                cell.push(c);
            }
            '|' if !code => cells.push(std::mem::take(&mut cell).trim().to_string()),
            c => cell.push(c),
        }
    }
    if !cell.trim().is_empty() {
        cells.push(cell.trim().to_string());
    }
    cells
}

/// Escape text for roff: backslashes, and a leading `.` or `'` that would start a request.
fn roff(text: &str) -> String {
    let escaped = text.replace('\\', "\\e").replace('-', "\\-");
    if escaped.starts_with('.') || escaped.starts_with('\'') {
        format!("\\&{escaped}")
    } else {
        escaped
    }
}

/// Markdown inline text to roff: `code` in bold, **strong** in bold.
fn inline(text: &str) -> String {
    let mut out = String::new();
    for (i, part) in text.replace("**", "").split('`').enumerate() {
        if i % 2 == 1 {
            out.push_str("\\fB");
            out.push_str(roff(part).trim_start_matches("\\&"));
            out.push_str("\\fR");
        } else {
            out.push_str(&roff(part));
        }
    }
    if out.starts_with("\\fB") {
        out
    } else if out.starts_with('.') || out.starts_with('\'') {
        format!("\\&{out}")
    } else {
        out
    }
}
