# The IMAP cache (ENVELOPE/BODYSTRUCTURE beside the maildir) against changes made behind its
# back: messages written into and deleted from the maildir directly, a damaged cache file.
# SELECT and FETCH must match what is on disk each time. Args: imaps-port password maildir
import imaplib, ssl, sys, os, re, time
port, pw, maildir = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
CACHE = os.path.join(maildir, 'postern-imap-cache')

def write(n, tag):
    """A message written straight into new/, as another delivery agent would."""
    lines = 'line\n' * n
    body = f'Subject: {tag} {n}\nFrom: x{n}@example.org\nDate: Mon, 7 Oct 2024 10:00:00 +0000\n\n{lines}'
    name = f'{int(time.time())}.{tag}{n}_{os.getpid()}.elsewhere'
    with open(os.path.join(maildir, 'tmp', name), 'w') as f:
        f.write(body)
    os.rename(os.path.join(maildir, 'tmp', name), os.path.join(maildir, 'new', name))

def on_disk():
    """Subject → size as IMAP counts it (CRLF line ends) of every message file."""
    out = {}
    for sub in ('new', 'cur'):
        for f in os.listdir(os.path.join(maildir, sub)):
            data = open(os.path.join(maildir, sub, f), 'rb').read()
            subject = re.search(rb'^Subject: (.*)$', data, re.M).group(1).decode()
            out[subject] = len(data) + data.count(b'\n')
    return out

def remove(subject):
    for sub in ('new', 'cur'):
        for f in os.listdir(os.path.join(maildir, sub)):
            p = os.path.join(maildir, sub, f)
            if re.search(rb'^Subject: ' + subject.encode() + rb'$', open(p, 'rb').read(), re.M):
                os.unlink(p)
                return
    raise SystemExit(f'no message {subject}')

def session():
    M = imaplib.IMAP4_SSL('127.0.0.1', port, ssl_context=ctx)
    M.login('demo', pw)
    return M

def seen_by(M, what):
    """UID → (subject, size) from FETCH 1:* ENVELOPE, checked against the files on disk."""
    typ, data = M.fetch('1:*', '(UID RFC822.SIZE ENVELOPE BODYSTRUCTURE)')
    assert typ == 'OK', (what, data)
    got = {}
    for d in data:
        d = d[0] + d[1] if isinstance(d, tuple) else d
        uid = int(re.search(rb'UID (\d+)', d).group(1))
        size = int(re.search(rb'RFC822\.SIZE (\d+)', d).group(1))
        subject = re.search(rb'ENVELOPE \((?:NIL|"[^"]*") "([^"]*)"', d).group(1).decode()
        assert b'BODYSTRUCTURE ("TEXT" "PLAIN"' in d, (what, d)
        got[uid] = (subject, size)
    want = on_disk()
    assert sorted(s for s, _ in got.values()) == sorted(want), (what, got, want)
    for s, size in got.values():
        assert size == want[s], (what, s, size, want[s])
    return got

for n in range(1, 41):
    write(n, 'direct')
A = session()
assert A.select('INBOX')[1] == [b'40']
first = seen_by(A, 'first visit')
assert os.path.exists(CACHE), 'no cache written'

# Behind the cache's back, while A has the mailbox selected: 8 deleted, 5 new.
for n in range(3, 11):
    remove(f'direct {n}')
for n in range(1, 6):
    write(n, 'later')
A.noop()
assert len(A.untagged_responses.pop('EXPUNGE', [])) == 8, 'EXPUNGE for the deleted files'
assert A.untagged_responses.pop('EXISTS', [])[-1] == b'37'
second = seen_by(A, 'after direct changes')
# The UIDs of the messages that stayed are the ones they had.
assert all(second[u] == first[u] for u in second if u in first), (first, second)

# A second session (its own cache load) sees the same; then more changes between sessions.
B = session()
assert B.select('INBOX')[1] == [b'37']
assert seen_by(B, 'second session') == second
B.logout()
A.logout()
for n in range(11, 21):
    remove(f'direct {n}')
for n in range(6, 9):
    write(n, 'later')
C = session()
assert C.select('INBOX')[1] == [b'30']
third = seen_by(C, 'after changes between sessions')
C.logout()

# A damaged cache is ignored, a foreign one too; answers stay right.
with open(CACHE, 'r+b') as f:
    f.truncate(os.path.getsize(CACHE) // 2)
D = session()
assert D.select('INBOX')[1] == [b'30']
assert seen_by(D, 'truncated cache') == third
D.logout()
open(CACHE, 'wb').write(b'garbage\n' * 100)
E = session()
E.select('INBOX')
assert seen_by(E, 'foreign cache') == third
E.logout()
leftovers = [f for f in os.listdir(maildir) if f.endswith('.tmp')]
assert leftovers == [], leftovers
print('cache consistent')
