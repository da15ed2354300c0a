//! One fixed site for the harnesses that need the real config and users: hosted and remote
//! domains, handlers with limits, forwards and a loop, every receiving rule, bans of each field,
//! an IP → user assumption. Remote mail goes to a gateway on a loopback port nothing listens on,
//! so delivery never leaves the machine.

use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use postern::config::Config;
use postern::store::users::Users;

/// The config; `{gateway}` becomes a closed loopback port.
pub const CONFIG: &str = r#"
[server]
hostname = "mx.example.test"
postmaster = "postmaster@example.test"

[paths]
spool = "spool"
mail = "mail"
users = "users.toml"

[limits]
message_size = "64K"
recipients = 20
errors = 30
max_hops = 20
spool_reserve = "150K"

[trust]
networks = ["10.0.0.0/8", "::1/128"]

[delivery]
gateway = "{gateway}"
max_attempts = 3
lifetime = "1d"

[remote]
connect_timeout = "1s"
command_timeout = "1s"

[[domain]]
name = "example.test"

[[domain.handler]]
local = "sales"
mailbox = "alice"
max_size = "2K"
block_attachments = true
copy_to = "bob@example.test"

[[domain.handler]]
local = "out"
forward = "someone@elsewhere.test"

[[domain.handler]]
local = "loop1"
forward = "loop2@example.test"

[[domain.handler]]
local = "loop2"
forward = "loop1@example.test"

[[domain]]
name = "other.test"
redirect = "bob"

[[domain]]
name = "remote.test"
hosted = "remote"
accept_unhandled = false

[[domain.handler]]
local = "boss"
mailbox = "alice"

[receiving.untrusted]
block_extensions = ["exe", "scr"]
block_content_types = ["application/x-msdownload", "video/*"]
block_numeric_sender_domains = true
spoof_check = "all-except"
spoof_list = [{ field = "sender", op = "ends-with", value = "@lists.test" }]
spf = "softfail"
max_size = "32K"

[receiving.trusted]
block_empty_return_path = false

[[receiving.assume]]
network = "192.0.2.128/25"
user = "alice"

[[receiving.ban]]
field = "header"
header = "Subject"
op = "matches"
value = "(?i)lottery|prize"
reply = "550 5.7.1 No spam here"

[[receiving.ban]]
field = "helo"
op = "equals"
value = "evil.test"

[[receiving.ban]]
field = "client-ip"
op = "starts-with"
value = "198.51.100."
listeners = ["smtp"]

[[receiving.ban]]
field = "recipient"
op = "contains"
value = "blocked"

[[receiving.ban]]
field = "sender"
op = "ends-with"
value = "@spam.test"
negate = false

[[listener]]
name = "smtp"
protocol = "smtp"
address = "127.0.0.1:2525"
"#;

/// The users: passwords are not hashes (nothing here checks one; see [`super::creds`]).
pub const USERS: &str = r#"
[[user]]
name = "alice"
password = "x"

[[user]]
name = "bob"
password = "x"
quota = 3000

[[user]]
name = "postmaster"
password = "x"

[[user]]
name = "nomail"
password = "x"
mail = false
"#;

/// A loopback address where connections are refused (a port bound once, then released).
fn closed_port() -> String {
    static ADDR: OnceLock<String> = OnceLock::new();
    ADDR.get_or_init(|| {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_or(1, |a| a.port());
        format!("127.0.0.1:{port}")
    })
    .clone()
}

/// The config (with `extra` TOML after it) and its relative paths under `base`.
pub fn config(base: &Path, extra: &str) -> Config {
    let text = CONFIG.replace("{gateway}", &closed_port()) + extra;
    match postern::config::parse(&text, base) {
        Ok(c) => c,
        Err(problems) => panic!("the fixture config is invalid: {problems:?}"),
    }
}

/// The site in a directory of its own: config, users file, empty spool and mail volume.
pub struct Site {
    pub dir: tempfile::TempDir,
    pub config: Arc<Config>,
}

impl Site {
    pub fn new() -> Site {
        Site::with("")
    }

    /// The site with more config (e.g. a `[[collect]]` account).
    pub fn with(extra: &str) -> Site {
        let dir = tempfile::tempdir().expect("temporary directory");
        std::fs::write(dir.path().join("users.toml"), USERS).expect("users file");
        let config = Arc::new(config(dir.path(), extra));
        Site { dir, config }
    }
}

impl Default for Site {
    fn default() -> Self {
        Site::new()
    }
}

/// One site for the whole process, for harnesses that only read it (the SMTP policy).
pub fn shared() -> &'static (Site, Users) {
    static SITE: OnceLock<(Site, Users)> = OnceLock::new();
    SITE.get_or_init(|| {
        let site = Site::new();
        let users = Users::load(&site.dir.path().join("users.toml")).expect("users");
        (site, users)
    })
}
