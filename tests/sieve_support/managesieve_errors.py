"""A raw ManageSieve (RFC 5804) client for the error cases sieve-connect does not make.

argv: port password. Prints one line per check: NAME: the server's response line.
"""
import base64
import hashlib
import hmac
import os
import re
import socket
import ssl
import sys

port, password = int(sys.argv[1]), sys.argv[2]
sock = socket.create_connection(("127.0.0.1", port), timeout=30)
f = sock.makefile("rb")


def response():
    """Lines up to and including the OK/NO/BYE line; returns (lines, final)."""
    lines = []
    while True:
        line = f.readline()
        if not line:
            return lines, "EOF"
        line = line.decode("utf-8", "replace").rstrip("\r\n")
        if line.startswith(("OK", "NO", "BYE")):
            return lines, line
        lines.append(line)


def send(data):
    sock.sendall(data)


def check(name, data):
    send(data)
    lines, final = response()
    print(f"{name}: {final}")
    return lines, final


caps, _ = response()
print("caps:", " | ".join(caps))
check("plain_before_tls", b'AUTHENTICATE "PLAIN" "%s"\r\n'
      % base64.b64encode(b"\0demo\0" + password.encode()))
check("starttls", b"STARTTLS\r\n")
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
sock = ctx.wrap_socket(sock, server_hostname="localhost")
f = sock.makefile("rb")
caps, _ = response()
print("caps_tls:", " | ".join(caps))


def scram(user, pw):
    """RFC 5802 SCRAM-SHA-256 over AUTHENTICATE; the server-final must come as OK (SASL ...)."""
    nonce = base64.b64encode(os.urandom(18)).decode()
    first_bare = "n=%s,r=%s" % (user, nonce)
    send(b'AUTHENTICATE "SCRAM-SHA-256" "%s"\r\n'
         % base64.b64encode(("n,," + first_bare).encode()))
    challenge = f.readline().decode().strip()
    server_first = base64.b64decode(challenge.strip('"')).decode()
    attrs = dict(a.split("=", 1) for a in server_first.split(","))
    salted = hashlib.pbkdf2_hmac("sha256", pw.encode(), base64.b64decode(attrs["s"]),
                                 int(attrs["i"]))
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    stored = hashlib.sha256(client_key).digest()
    final_wo = "c=biws,r=%s" % attrs["r"]
    auth = ("%s,%s,%s" % (first_bare, server_first, final_wo)).encode()
    sig = hmac.new(stored, auth, "sha256").digest()
    proof = bytes(a ^ b for a, b in zip(client_key, sig))
    final = "%s,p=%s" % (final_wo, base64.b64encode(proof).decode())
    send(b'"%s"\r\n' % base64.b64encode(final.encode()))
    _, result = response()
    m = re.match(r'OK \(SASL "([^"]*)"\)', result)
    if not m:
        return "no SASL data: " + result
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()
    want = "v=" + base64.b64encode(hmac.new(server_key, auth, "sha256").digest()).decode()
    got = base64.b64decode(m.group(1)).decode()
    return "verified" if got == want else "bad server signature " + got


print("scram: " + scram("demo", password))
check("unauthenticate", b"UNAUTHENTICATE\r\n")
check("wrong_password", b'AUTHENTICATE "PLAIN" "%s"\r\n'
      % base64.b64encode(b"\0demo\0wrong"))
check("login", b'AUTHENTICATE "PLAIN" "%s"\r\n'
      % base64.b64encode(b"\0demo\0" + password.encode()))
big = b"#" * (1024 * 1024 + 1)
check("oversized", b'PUTSCRIPT "big" {%d+}\r\n' % len(big) + big + b"\r\n")
check("after_oversized", b'NOOP "still-in-step"\r\n')
bad = b'require "fileinto";\r\nkeep;\r\nfrobnicate "x";\r\n'
check("bad_script", b'PUTSCRIPT "bad" {%d+}\r\n' % len(bad) + bad + b"\r\n")
check("check_bad", b"CHECKSCRIPT {%d+}\r\n" % len(bad) + bad + b"\r\n")
check("bad_name", b'PUTSCRIPT "../evil" "keep;"\r\n')
check("control_name", b'PUTSCRIPT {5+}\r\na\x01b/c "keep;"\r\n')
check("put_one", b'PUTSCRIPT "one" "keep;"\r\n')
check("put_two", b'PUTSCRIPT "two" "discard;"\r\n')
check("put_three", b'PUTSCRIPT "three" "keep;"\r\n')
check("havespace_new", b'HAVESPACE "three" 10\r\n')
check("havespace_big", b'HAVESPACE "one" 2000000\r\n')
check("replace_one", b'PUTSCRIPT "one" "stop;"\r\n')
check("activate", b'SETACTIVE "one"\r\n')
check("delete_active", b'DELETESCRIPT "one"\r\n')
check("get_missing", b'GETSCRIPT "nope"\r\n')
lines, _ = check("get_one", b'GETSCRIPT "one"\r\n')
print("get_one_body:", " | ".join(lines))
check("rename_taken", b'RENAMESCRIPT "one" "two"\r\n')
check("rename", b'RENAMESCRIPT "one" "uno"\r\n')
lines, _ = check("list", b"LISTSCRIPTS\r\n")
print("list_body:", " | ".join(lines))
check("literal_too_long_line", b"NOOP " + b"x" * 40000 + b"\r\n")
check("logout", b"LOGOUT\r\n")
