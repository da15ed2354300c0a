# COMPRESS=DEFLATE (RFC 4978) with Python's zlib (raw deflate, no header) over a raw socket:
# after the tagged OK both directions are deflated; a SELECT, a large FETCH and an APPEND go
# through it; a second COMPRESS is refused. Args: tls|plain port user password.
# Prints "compress ok".
import re, socket, ssl, sys, zlib

mode, port, user, pw = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
s = socket.create_connection(('127.0.0.1', port), timeout=20)
if mode == 'tls':
    s = ctx.wrap_socket(s)
buf = b''
def readline_plain():
    global buf
    while b'\r\n' not in buf:
        chunk = s.recv(65536); assert chunk, 'closed'
        buf += chunk
    line, _, buf = buf.partition(b'\r\n')
    return line + b'\r\n'
def cmd_plain(tag, text):
    s.sendall(f'{tag} {text}\r\n'.encode())
    while True:
        line = readline_plain()
        if line.startswith(tag.encode() + b' '):
            return line
readline_plain()
assert b' OK' in cmd_plain('a', f'LOGIN {user} "{pw}"')
caps = cmd_plain('b', 'CAPABILITY')
line = cmd_plain('c', 'COMPRESS DEFLATE')
assert line.startswith(b'c OK'), line
assert not buf, buf
comp = zlib.compressobj(6, zlib.DEFLATED, -15)
decomp = zlib.decompressobj(-15)
plain = b''
wire_in = 0
def send(data):
    s.sendall(comp.compress(data) + comp.flush(zlib.Z_SYNC_FLUSH))
def readline():
    global plain, wire_in
    while b'\r\n' not in plain:
        chunk = s.recv(65536); assert chunk, 'closed'
        wire_in += len(chunk)
        plain += decomp.decompress(chunk)
    line, _, plain = plain.partition(b'\r\n')
    return line + b'\r\n'
def read_exact(n):
    global plain, wire_in
    while len(plain) < n:
        chunk = s.recv(65536); assert chunk, 'closed'
        wire_in += len(chunk)
        plain += decomp.decompress(chunk)
    out, plain = plain[:n], plain[n:]
    return out
def cmd(tag, text, literal=None):
    if literal is None:
        send(f'{tag} {text}\r\n'.encode())
    else:
        send(f'{tag} {text} {{{len(literal)}+}}\r\n'.encode() + literal + b'\r\n')
    lines = []
    while True:
        line = readline()
        m = re.search(rb'\{(\d+)\}\r\n$', line)
        if m:
            line += read_exact(int(m.group(1)))
        lines.append(line)
        if line.startswith(tag.encode() + b' '):
            return lines
body = b'Subject: compressed\r\n\r\n' + b'all work and no play ' * 5000 + b'\r\n'
r = cmd('d', 'APPEND INBOX', body)
assert r[-1].startswith(b'd OK'), r
r = cmd('e', 'SELECT INBOX')
assert r[-1].startswith(b'e OK'), r
before = wire_in
r = cmd('f', 'UID FETCH 1:* (BODY.PEEK[])')
assert r[-1].startswith(b'f OK'), r[-1]
got = b''.join(r)
assert body in got, len(got)
assert wire_in - before < len(body) / 10, ('not compressed?', wire_in - before, len(body))
r = cmd('g', 'COMPRESS DEFLATE')
assert r[-1].startswith(b'g NO') or r[-1].startswith(b'g BAD'), r
assert b'COMPRESSIONACTIVE' in r[-1] or r[-1].startswith(b'g BAD'), r
r = cmd('h', 'LOGOUT')
assert r[-1].startswith(b'h OK'), r
print('compress ok', wire_in)
