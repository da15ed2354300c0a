//! A few lines of Python for tests that speak SMTP byte by byte (what smtplib cannot send: BDAT,
//! bare LF, NUL bytes, pipelined floods). Prepend [`PRELUDE`] to a script.

/// Defines `conn(port) -> (sock, file)`, `reply(f) -> str` (a whole multi-line reply, `<EOF>` on
/// close) and `say(s, f, data) -> str` (send bytes, read one reply).
pub const PRELUDE: &str = r#"
import socket, sys, time
def conn(port):
    s = socket.create_connection(("127.0.0.1", int(port)), timeout=30)
    return s, s.makefile("rb")
def reply(f):
    out = []
    while True:
        line = f.readline().decode("utf-8", "replace")
        if not line:
            out.append("<EOF>")
            break
        out.append(line.rstrip("\r\n"))
        if len(line) < 4 or line[3] != "-":
            break
    return "\n".join(out)
def say(s, f, data):
    s.sendall(data)
    return reply(f)
"#;

/// Run `PRELUDE + script` with `args`; returns stdout.
pub fn py(script: &str, args: &[&str]) -> String {
    super::python(&format!("{PRELUDE}\n{script}"), args)
}
