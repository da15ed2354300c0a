//! Man pages and shell completions, generated from the clap definition (`bin/gen-docs`).

use std::io;
use std::path::Path;

use clap::CommandFactory;

use super::Cli;

/// The end of `postern --help` and of `postern(1)`: files, environment, exit status.
pub const AFTER_HELP: &str = "\
Files:
  /etc/postern/postern.toml   the configuration (--config, POSTERN_CONFIG)
  /etc/postern/users.toml     the users file beside it (paths.users), mode 0600
  /var/spool/postern/         the queue: queue/ hold/ tmp/ state/ (paths.spool)
  /var/mail/postern/USER/     one maildir per user, with its mailbox state (paths.mail)

Environment:
  POSTERN_CONFIG              the configuration file when --config is not given
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
