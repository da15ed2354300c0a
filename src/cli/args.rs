//! The command-line definition: one place that generates `--help`, the man pages and the shell
//! completions (see `bin/gen-docs`).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// A complete mail server for a small organisation, as a Unix toolkit.
#[derive(Debug, Parser)]
#[command(name = "postern", version, about, long_about = None, max_term_width = 100)]
#[command(after_long_help = super::docs::AFTER_HELP)]
pub struct Cli {
    /// Configuration file [default: /etc/postern/postern.toml]
    #[arg(long, global = true, env = "POSTERN_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run every configured listener, the queue runner and the collection schedule in one process
    Serve(ServeArgs),
    /// The SMTP server (relay and submission listeners)
    #[command(after_long_help = super::docs::HOSTING)]
    Smtpd(DaemonArgs),
    /// The POP3 server
    #[command(after_long_help = super::docs::HOSTING)]
    Popd(DaemonArgs),
    /// The IMAP4 server
    #[command(after_long_help = super::docs::HOSTING)]
    Imapd(DaemonArgs),
    /// Deliver queued mail: once (for cron) or continuously
    Deliver(DeliverArgs),
    /// Collect mail from remote POP3 accounts into the local queue (one pass, for cron)
    Collect(CollectArgs),
    /// Inspect and manage the mail queue
    #[command(subcommand)]
    Queue(QueueCommand),
    /// Mailboxes: usage and quotas
    #[command(subcommand)]
    Mbox(MboxCommand),
    /// Manage the users file
    #[command(subcommand)]
    User(UserCommand),
    /// Certificates for TLS listeners
    #[command(subcommand)]
    Cert(CertCommand),
    /// Check the configuration file
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Send a message from the command line (sendmail(1); also run as `sendmail`, `mailq`,
    /// `newaliases`)
    Sendmail(SendmailArgs),
    /// Domains and their address handlers (lists and edits the configuration file)
    #[command(subcommand)]
    Domain(DomainCommand),
    /// DKIM keys for signing outgoing mail
    #[command(subcommand)]
    Dkim(DkimCommand),
    /// The DNS records a hosted domain needs, and whether they are published
    #[command(subcommand)]
    Dns(DnsCommand),
    /// Users' Sieve filters: list, store, fetch, activate, check
    #[command(subcommand)]
    Sieve(SieveCommand),
}

#[derive(Debug, Subcommand)]
#[command(
    after_long_help = "Scripts live in the user's maildir: sieve/NAME.sieve, and sieve/active names \
    the one run at delivery. Users edit the same scripts over ManageSieve (port 4190)."
)]
pub enum SieveCommand {
    /// List USER's scripts (the active one marked with `*`)
    Ls { user: String },
    /// Check FILE (`-`: standard input) and store it as USER's script NAME
    Put {
        user: String,
        name: String,
        file: PathBuf,
        /// Also make it the active script
        #[arg(long)]
        activate: bool,
    },
    /// Print USER's script NAME
    Get { user: String, name: String },
    /// Make NAME the script run for USER's mail (with --none: no script)
    Activate {
        user: String,
        #[arg(required_unless_present = "none")]
        name: Option<String>,
        /// Deactivate: no script runs for USER's mail
        #[arg(long, conflicts_with = "name")]
        none: bool,
    },
    /// No script runs for USER's mail (the scripts are kept)
    Deactivate { user: String },
    /// Delete USER's script NAME (not the active one)
    Rm { user: String, name: String },
    /// Check that FILE (`-`: standard input) compiles; errors name the line
    Check { file: PathBuf },
}

#[derive(Debug, Subcommand)]
pub enum DkimCommand {
    /// Make a signing key (mode 0600) and print the TXT record to publish
    #[command(
        after_long_help = "Add the key to the domain in the config file:\n\n  \
        [[domain.dkim]]\n  selector = \"SELECTOR\"\n  key = \"dkim/DOMAIN.SELECTOR.key\"\n  \
        algorithm = \"rsa-sha256\"   # or ed25519-sha256\n\n\
        Keep the old key listed until the new record is published; two keys sign at once."
    )]
    Keygen {
        domain: String,
        /// The selector [default: the date and the algorithm, e.g. 20261204r]
        #[arg(long, value_name = "S")]
        selector: Option<String>,
        #[arg(long, value_enum, default_value_t = KeyAlgorithm::Rsa2048)]
        algorithm: KeyAlgorithm,
        /// Where to write the key [default: dkim/DOMAIN.SELECTOR.key next to the config file]
        #[arg(long, value_name = "FILE")]
        key: Option<PathBuf>,
        /// Replace an existing key file
        #[arg(long)]
        force: bool,
    },
}

/// `dkim keygen --algorithm`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KeyAlgorithm {
    /// RSA, 2048 bits (rsa-sha256: what every verifier knows)
    Rsa2048,
    /// Ed25519 (ed25519-sha256, RFC 8463: sign with an RSA key too)
    Ed25519,
}

#[derive(Debug, Subcommand)]
pub enum DnsCommand {
    /// Print every record to publish for DOMAIN, in zone-file syntax
    Records { domain: String },
    /// Look the records up through [dns] and say which are missing or different
    Check {
        domain: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Create (or reuse) a self-contained demo setup under DIR and serve it on 127.0.0.1
    #[arg(long, value_name = "DIR")]
    pub demo: Option<PathBuf>,
    /// Add N to every demo port (2525, 2587, 2465, 2110, 2995, 2143, 2993,
    /// ManageSieve 4190, gateway 2526)
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub port_offset: u16,
}

#[derive(Debug, Args)]
pub struct DaemonArgs {
    /// Serve one connection on stdin/stdout (inetd, systemd Accept=yes)
    #[arg(long, conflicts_with = "listen")]
    pub inetd: bool,
    /// Listen on ADDR (repeatable) instead of the configured listeners
    #[arg(long, value_name = "ADDR")]
    pub listen: Vec<SocketAddr>,
    /// Use the settings (TLS, trust, protocol) of the configured listener NAME
    #[arg(long, value_name = "NAME")]
    pub listener: Option<String>,
}

#[derive(Debug, Args)]
pub struct DeliverArgs {
    /// Run the queue once and exit (the default)
    #[arg(long, conflicts_with = "watch")]
    pub once: bool,
    /// Keep running: scan the queue every delivery.scan_interval
    #[arg(long)]
    pub watch: bool,
    /// Only these messages (ignores their next-try time)
    #[arg(long = "id", value_name = "ID")]
    pub ids: Vec<String>,
}

#[derive(Debug, Args)]
pub struct CollectArgs {
    /// Only these accounts
    #[arg(long = "account", value_name = "NAME")]
    pub accounts: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum QueueCommand {
    /// List queued messages grouped by domain job
    Ls {
        /// JSON Lines: one JSON object per message, one a line
        #[arg(long)]
        json: bool,
    },
    /// Show one message: envelope, per-recipient status, headers (like postcat -q)
    Show {
        id: String,
        /// One JSON object
        #[arg(long)]
        json: bool,
        /// The whole message, not only its header
        #[arg(long)]
        body: bool,
    },
    /// Remove messages from the queue
    Abort {
        #[arg(required = true)]
        ids: Vec<String>,
        /// Send a delivery status notification to the sender
        #[arg(long)]
        bounce: bool,
    },
    /// Attempt delivery now
    Flush {
        /// Only messages with recipients in domain D
        #[arg(long, value_name = "D")]
        domain: Option<String>,
    },
    /// Park messages: no delivery until released
    Hold {
        #[arg(required = true)]
        ids: Vec<String>,
    },
    /// Release held messages
    Release {
        #[arg(required = true)]
        ids: Vec<String>,
    },
    /// Mail the day's SMTP TLS reports (RFC 8460) to each MTA-STS domain's rua= (cron, daily)
    TlsReport {
        /// The UTC day to report, YYYY-MM-DD [default: yesterday]
        #[arg(long, value_name = "DAY")]
        day: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum MboxCommand {
    /// List mailboxes with their usage
    Ls {
        #[arg(long)]
        json: bool,
    },
    /// Show or change a user's quota
    Quota {
        user: Option<String>,
        /// New limit, e.g. 500M
        #[arg(long, value_name = "SIZE", conflicts_with = "clear")]
        set: Option<String>,
        /// Remove the limit
        #[arg(long)]
        clear: bool,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user (asks for the password on the terminal unless --password-stdin)
    Add {
        user: String,
        /// Read the password from the first line of standard input
        #[arg(long)]
        password_stdin: bool,
        /// Also store a shared secret (the password) for CRAM-MD5 and APOP
        #[arg(long)]
        shared_secret: bool,
        /// Also store the NT hash of the password for SASL NTLM (password-equivalent!)
        #[arg(long)]
        ntlm: bool,
        /// A system user's entry: no login password (PAM checks it), only postern's extras
        #[arg(long, conflicts_with_all = ["password_stdin", "shared_secret", "ntlm"])]
        system: bool,
    },
    /// Change a user's password
    Passwd {
        user: String,
        #[arg(long)]
        password_stdin: bool,
        /// Also store a shared secret (the password) for CRAM-MD5 and APOP
        #[arg(long)]
        shared_secret: bool,
        /// Also store the NT hash of the password for SASL NTLM (password-equivalent!)
        #[arg(long)]
        ntlm: bool,
        /// Set the POP3 override password instead of the login password
        #[arg(long)]
        pop3: bool,
        /// A system user: store only the shared secret and/or NT hash of this password (the
        /// login password stays PAM's)
        #[arg(long, conflicts_with = "pop3")]
        system: bool,
    },
    /// Remove a user (the maildir is kept)
    Del { user: String },
    /// List users
    Ls {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum CertCommand {
    /// Make a self-signed certificate and key (PEM); prints the SHA-256 fingerprint
    Gen {
        /// Common name [default: the configured server host name]
        #[arg(long, value_name = "NAME")]
        cn: Option<String>,
        /// Subject alternative name (repeatable; wildcards like *.example.com allowed)
        #[arg(long, value_name = "NAME")]
        san: Vec<String>,
        /// Validity in days
        #[arg(long, value_name = "N", default_value_t = 365)]
        days: u32,
        #[arg(long, value_name = "FILE")]
        cert: PathBuf,
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// Replace an existing certificate and key
        #[arg(long)]
        force: bool,
    },
    /// Obtain or renew the [acme] certificate from the ACME CA when it is due (cron, or serve's schedule)
    Acme {
        /// Print nothing when no renewal is due, or without [acme] (for cron)
        #[arg(long)]
        renew: bool,
        /// Obtain a new certificate even when the served one is good
        #[arg(long)]
        force: bool,
        /// Revoke the served certificate at the CA, then obtain a new one
        #[arg(long)]
        revoke: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Report every problem in the configuration with its line; exit 78 if there are any
    Check,
    /// Print the effective configuration, defaults included (passwords masked), as TOML
    Show {
        /// Only the settings that differ from their defaults (like `postconf -n`, `doveconf -n`)
        #[arg(long)]
        non_default: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum DomainCommand {
    /// List the domains with their settings and handlers
    Ls {
        #[arg(long)]
        json: bool,
    },
    /// Add or remove a domain's address handlers
    #[command(subcommand)]
    Handlers(HandlersCommand),
}

#[derive(Debug, Subcommand)]
pub enum HandlersCommand {
    /// Add all local mailboxes: a handler to its own mailbox for every user that has none yet
    AddAll { domain: String },
    /// Add a handler for LOCAL@DOMAIN
    Add {
        domain: String,
        /// The local part (before the @)
        local: String,
        /// Deliver to this local mailbox (user name)
        #[arg(long, value_name = "USER", required_unless_present = "forward")]
        mailbox: Option<String>,
        /// Forward to this address instead
        #[arg(long, value_name = "ADDRESS", conflicts_with = "mailbox")]
        forward: Option<String>,
        /// With --forward: send through this [[remote.server]]
        #[arg(long, value_name = "NAME", requires = "forward")]
        server: Option<String>,
    },
    /// Remove the handler for LOCAL@DOMAIN
    Del { domain: String, local: String },
}

#[derive(Debug, Args)]
#[command(disable_help_flag = true, after_long_help = crate::receive::sendmail::USAGE)]
pub struct SendmailArgs {
    /// sendmail(1) options and recipients, as Postfix's sendmail takes them (see below)
    #[arg(
        value_name = "ARG",
        allow_hyphen_values = true,
        trailing_var_arg = true,
        num_args = 0..
    )]
    pub args: Vec<String>,
}
