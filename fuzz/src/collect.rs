//! The POP3 client of `collect`: a whole pass over an account against a server on loopback that
//! answers with the input (greeting, CAPA, login, UIDL, LIST, RETR data …, sent at once and then
//! end of stream), so every reply parser runs in the order the pass asks (status lines,
//! capabilities, SASL challenges, listings, dot-stuffed data, the plan, header recipients, the
//! spool and the account's journal). A second pass over the same answers must not queue again a
//! message the first one queued.

use std::net::TcpListener as StdListener;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use postern::intake::{Handoff, Intake};
use postern::queue::deliver::Deliverer;
use postern::queue::spool::Spool;
use postern::receive::collect::state::StateStore;
use postern::receive::collect::{Collector, NoProgress};
use postern::store::users::UsersCache;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::alphabet::spell;
use super::site::Site;
use super::{creds, quiet};

/// The fake server's listening socket, bound once.
fn listener() -> &'static StdListener {
    static L: OnceLock<StdListener> = OnceLock::new();
    L.get_or_init(|| {
        let l = StdListener::bind("127.0.0.1:0").expect("loopback listener");
        l.set_nonblocking(true).expect("non-blocking listener");
        l
    })
}

/// Server replies, for [`spell`].
const TOKENS: &[&[u8]] = &[
    b"\r\n",
    b"+OK POP3 ready <1896.697170952@pop.example.test>\r\n",
    b"+OK\r\n",
    b"-ERR no\r\n",
    b"+OK capabilities\r\nTOP\r\nUIDL\r\nUSER\r\nSASL PLAIN LOGIN CRAM-MD5\r\n.\r\n",
    b"+ PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UuZXhhbXBsZS5uZXQ+\r\n",
    b"+ VXNlcm5hbWU6\r\n",
    b"+ UGFzc3dvcmQ6\r\n",
    b"+OK unique ids\r\n1 uid-1\r\n2 uid-2\r\n3 uid-3\r\n.\r\n",
    b"+OK scan listing\r\n1 120\r\n2 5000\r\n3 64\r\n.\r\n",
    b"+OK message follows\r\n",
    b"To: alice@example.test\r\nSubject: hi\r\n\r\nbody\r\n",
    b"Return-Path: <sender@elsewhere.test>\r\nTo: nobody@nowhere.test, bob@example.test\r\nCc: out@example.test\r\nDelivered-To: x@other.test\r\n\r\n",
    b"..dot\r\n",
    b".\r\n",
    b"+OK bye\r\n",
];

const AUTH: [&str; 6] = ["best", "user", "apop", "plain", "login", "cram-md5"];
const DELETE: [&str; 3] = ["leave", "delivered", "always"];
const MODE: [&str; 3] = ["recognised", "local", "catch-all"];

/// The first byte chooses the login method, the delete policy, the mode and whether a second
/// pass runs; the rest is what the server says ([`spell`]).
pub fn pass(data: &[u8]) {
    quiet();
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let script = spell(rest, TOKENS);
    let port = listener().local_addr().expect("listener address").port();
    let mode = MODE[usize::from(flags >> 4) % 3];
    let extra = format!(
        "\n[[collect]]\nname = \"fuzz\"\nserver = \"127.0.0.1\"\nport = {port}\ntls = \"none\"\n\
         user = \"{}\"\npassword = \"{}\"\nauth = \"{}\"\ndelete = \"{}\"\nmode = \"{mode}\"\n{}\
         max_message_size = \"4K\"\nmax_messages = 5\ntimeout = \"5s\"\n",
        creds::USER,
        creds::PASSWORD,
        AUTH[usize::from(flags) % 6],
        DELETE[usize::from(flags >> 3) % 3],
        if mode == "catch-all" {
            "catch_all = \"bob@example.test\"\n"
        } else {
            ""
        },
    );
    let site = Site::with(&extra);
    let spool = Arc::new(Spool::open(&site.config.paths.spool).expect("spool"));
    let users = Arc::new(UsersCache::new(&site.config.paths.users).expect("users"));
    let deliverer = Arc::new(Deliverer::new(
        site.config.clone(),
        spool.clone(),
        users.clone(),
    ));
    let collector = Arc::new(Collector {
        config: site.config.clone(),
        spool: spool.clone(),
        users,
        // The queue runner delivers what was collected (nothing is delivered here).
        intake: Arc::new(Intake::new(deliverer, Handoff::QueueRunner)),
    });
    let script = Arc::new(script);
    run_pass(&collector, &script);
    if flags & 0x80 == 0 {
        return;
    }
    let seen = |spool: &Spool| {
        StateStore::open(spool.root(), "fuzz", |_| true)
            .expect("the account state reads back")
            .expect("no pass holds the lock")
            .state
            .seen
    };
    let first = seen(&spool);
    run_pass(&collector, &script);
    for (uidl, s) in seen(&spool) {
        if let Some(before) = first.get(&uidl) {
            assert_eq!(before.id, s.id, "message {uidl:?} was queued twice");
        }
    }
}

/// One pass against the server saying `script`.
fn run_pass(collector: &Arc<Collector>, script: &Arc<Vec<u8>>) {
    let rt = super::runtime();
    let server = {
        let script = script.clone();
        rt.spawn(async move {
            let std = listener().try_clone().expect("listener");
            let l = TcpListener::from_std(std).expect("tokio listener");
            let Ok(Ok((mut conn, _))) =
                tokio::time::timeout(Duration::from_secs(5), l.accept()).await
            else {
                return;
            };
            let _ = conn.write_all(&script).await;
            let _ = conn.shutdown().await;
            let mut sink = [0u8; 4096];
            let drain = async {
                while let Ok(n) = conn.read(&mut sink).await {
                    if n == 0 {
                        break;
                    }
                }
            };
            let _ = tokio::time::timeout(Duration::from_secs(5), drain).await;
        })
    };
    let c = collector.clone();
    let pass = rt.spawn(async move {
        let account = c.config.collect[0].clone();
        c.run_account(&account, &mut NoProgress).await
    });
    let result = rt.block_on(pass).expect("the pass does not panic");
    let _ = rt.block_on(server);
    if let Ok(sum) = result {
        assert!(sum.fetched <= sum.listed, "{sum:?}");
        assert!(sum.fetched <= 5, "more than max_messages: {sum:?}");
    }
}
