//! A client that sends an APPEND's literal and then its CRLF as two writes with Nagle's
//! algorithm on (Python's imaplib does) is not held up by a delayed ACK: the server
//! acknowledges every read at once (`TCP_QUICKACK`). Without that each such APPEND waits for
//! the kernel's delayed-ACK timer (about 40 ms on Linux).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic

mod common;

use common::*;

const CLIENT: &str = r#"
import socket, ssl, sys, time
port, pw = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
raw = socket.create_connection(('127.0.0.1', port))
assert raw.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0, 'Nagle is on'
s = ctx.wrap_socket(raw)
f = s.makefile('rb')
f.readline()
def command(tag, line):
    s.sendall(f'{tag} {line}\r\n'.encode())
    while True:
        l = f.readline()
        if l.startswith(tag.encode() + b' '):
            assert b' OK ' in l, l
            return
command('a', f'LOGIN demo {pw}')
command('b', 'SELECT INBOX')
times = []
for i in range(15):
    body = b'Subject: nagle\r\n\r\n' + b'y' * 1000 + b'\r\n'
    s.sendall(f'c{i} APPEND INBOX {{{len(body)}}}\r\n'.encode())
    assert f.readline().startswith(b'+'), 'continuation'
    t = time.monotonic()
    s.send(body)
    s.send(b'\r\n')
    while True:
        l = f.readline()
        if l.startswith(f'c{i} '.encode()):
            assert b' OK ' in l, l
            break
    times.append((time.monotonic() - t) * 1000)
times.sort()
print(f'append median {times[len(times) // 2]:.2f} ms')
"#;

#[test]
fn an_append_literal_sent_in_two_writes_is_not_delayed() {
    let demo = Demo::start();
    let out = python(CLIENT, &[&demo.port(2993).to_string(), &demo.password()]);
    let ms: f64 = out
        .trim()
        .strip_prefix("append median ")
        .and_then(|r| r.strip_suffix(" ms"))
        .and_then(|r| r.parse().ok())
        .unwrap_or_else(|| panic!("{out}"));
    // A delayed ACK costs 40 ms; an APPEND here takes about 1 ms.
    assert!(ms < 25.0, "{out}");
}
