# Mixed APPEND/STORE/EXPUNGE load on one INBOX from several imaplib sessions, until the server
# dies (kill -9 by the test), logging every acknowledged change; then, in "check" mode against
# the restarted server, that every acknowledged change holds.
#   load  PORT PASSWORD LOG SESSIONS RUN -> appends "A uidvalidity uid token", "S uid",
#                                           "T uid" (expunge sent), "X uid" (expunge acknowledged)
#   check PORT PASSWORD LOG MAILDIR     -> prints "crash ok ..." or fails
import imaplib, random, re, ssl, sys, threading

mode, port, pw, log = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE

def conn():
    M = imaplib.IMAP4_SSL('127.0.0.1', port, ssl_context=ctx, timeout=20)
    M.login('demo', pw)
    typ, _ = M.select('INBOX')
    assert typ == 'OK'
    return M

lock = threading.Lock()
out = open(log, 'a', buffering=1) if mode == 'load' else None

def record(line):
    with lock:
        out.write(line + '\n')
        out.flush()

def worker(n, run):
    rng = random.Random(f'{run}-{n}')
    try:
        M = conn()
    except Exception:
        return
    mine = []  # UIDs this session appended and did not expunge
    i = 0
    while True:
        i += 1
        try:
            op = rng.choices(['append', 'store', 'expunge'], weights=[5, 3, 2])[0]
            if op == 'append' or not mine:
                token = f'{run}-{n}-{i}'
                typ, data = M.append('INBOX', None, None,
                                     f'Subject: crash {token}\r\n\r\nbody {token}\r\n'.encode())
                if typ != 'OK':
                    continue
                m = re.search(rb'APPENDUID (\d+) (\d+)', data[0] or b'')
                record(f'A {m.group(1).decode()} {m.group(2).decode()} {token}')
                mine.append(int(m.group(2)))
            elif op == 'store':
                uid = rng.choice(mine)
                typ, data = M.uid('STORE', str(uid), '+FLAGS', r'(\Flagged)')
                if typ == 'OK' and any(b'\\Flagged' in d for d in data if isinstance(d, bytes)):
                    record(f'S {uid}')
            else:
                uid = mine.pop(rng.randrange(len(mine)))
                # Tried: once the request is out, the expunge may happen unacknowledged.
                record(f'T {uid}')
                typ, _ = M.uid('STORE', str(uid), '+FLAGS.SILENT', r'(\Deleted)')
                if typ != 'OK':
                    continue
                typ, _ = M.uid('EXPUNGE', str(uid))
                if typ == 'OK':
                    record(f'X {uid}')
        except Exception:
            return  # the server was killed

if mode == 'load':
    sessions, run = int(sys.argv[5]), sys.argv[6]
    threads = [threading.Thread(target=worker, args=(n, run)) for n in range(sessions)]
    for t in threads: t.start()
    for t in threads: t.join()
    sys.exit(0)

# check
appended, flagged, expunged, tried, validity = {}, set(), set(), set(), set()
for line in open(log):
    f = line.split()
    if f[0] == 'A':
        assert int(f[2]) not in appended, f'APPENDUID {f[2]} given twice'
        validity.add(f[1]); appended[int(f[2])] = f[3]
    elif f[0] == 'S':
        flagged.add(int(f[1]))
    elif f[0] == 'X':
        expunged.add(int(f[1]))
    elif f[0] == 'T':
        tried.add(int(f[1]))
assert appended, 'no APPEND was acknowledged before the kills'
assert len(validity) == 1, f'UIDVALIDITY changed: {validity}'
M = conn()
typ, data = M.status('INBOX', '(UIDVALIDITY UIDNEXT)')
status = data[0].decode()
assert f'UIDVALIDITY {validity.pop()}' in status, status
uidnext = int(re.search(r'UIDNEXT (\d+)', status).group(1))
assert uidnext > max(appended), (uidnext, max(appended))
typ, data = M.uid('FETCH', '1:*', '(UID FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])')
assert typ == 'OK', data
have = {}
for d in data:
    if not isinstance(d, tuple):
        continue
    uid = int(re.search(rb'UID (\d+)', d[0]).group(1))
    flags = re.search(rb'FLAGS \(([^)]*)\)', d[0]).group(1).decode()
    subject = d[1].decode().strip()
    have[uid] = (flags, subject)
for uid, token in appended.items():
    if uid in expunged:
        assert uid not in have, f'UID {uid} expunged (acknowledged) but back: {have[uid]}'
        continue
    if uid not in have and uid in tried:
        continue  # an expunge was asked for and its answer lost with the server: either way
    if uid not in have:
        where = [u for u, (_, s) in have.items() if s.endswith(' ' + token)]
        import os, subprocess
        md = sys.argv[5]
        files = subprocess.run(['grep', '-rl', f'body {token}', md], capture_output=True, text=True).stdout
        state = subprocess.run(['grep', '-n', '-E', f'^(m {uid} |x {uid}$)',
                                os.path.join(md, 'postern-state'), os.path.join(md, 'postern-state.log')],
                               capture_output=True, text=True).stdout
        acks = [l for l in open(log) if l.split()[1:2] == [str(uid)] or l.split()[2:3] == [str(uid)]]
        raise AssertionError(f'APPENDUID {uid} ({token}) lost; that message has UIDs {where}; '
                             f'files {files!r}; state {state!r}; acks {acks}')
    assert have[uid][1] == f'Subject: crash {token}', f'UID {uid} is {have[uid][1]!r}, not {token}'
    if uid in flagged:
        assert '\\Flagged' in have[uid][0], f'STORE on {uid} lost: {have[uid][0]}'
tokens = [s for _, s in have.values()]
assert len(tokens) == len(set(tokens)), 'a message appears twice'
unanswered = len([u for u in tried - expunged if u not in have])
print(f'crash ok {len(appended)} appended, {len(flagged)} flagged, {len(expunged)} expunged, '
      f'{unanswered} expunged without an answer')
