# The RFC 3501 / 5258 MUSTs of issue 13, against a running server with a real client library
# (imaplib) and, where the order of untagged responses matters, a raw socket.
# Args: server-name (postern|dovecot) tls|plain port user password
# The same script runs against Dovecot in the same test run; checks only postern makes
# (CREATE of superiors) are skipped there. Prints "compliance ok".
import imaplib, re, socket, ssl, sys

server, mode, port, user, pw = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE

def conn():
    if mode == 'tls':
        M = imaplib.IMAP4_SSL('127.0.0.1', port, ssl_context=ctx)
    else:
        M = imaplib.IMAP4('127.0.0.1', port)
    M.login(user, pw)
    return M

class Raw:
    """A raw session: every line the server sends, in order."""
    def __init__(self):
        s = socket.create_connection(('127.0.0.1', port), timeout=20)
        self.s = ctx.wrap_socket(s) if mode == 'tls' else s
        self.f = self.s.makefile('rb')
        self.n = 0
        self.f.readline()
        self.cmd('LOGIN %s "%s"' % (user, pw))
    def cmd(self, text):
        self.n += 1
        tag = 'r%d' % self.n
        self.s.sendall(('%s %s\r\n' % (tag, text)).encode())
        lines = []
        while True:
            line = self.f.readline()
            assert line, 'connection closed after %r' % text
            m = re.search(rb'\{(\d+)\}\r\n$', line)
            if m:
                line += self.f.read(int(m.group(1))) + self.f.readline()
            lines.append(line.decode('utf-8', 'replace'))
            if line.startswith(tag.encode() + b' '):
                return lines

def ok(r, what):
    assert r[0] == 'OK', (what, r)
    return r[1]

def msg(subject, frm='a@example.org'):
    return ('From: %s\r\nSubject: %s\r\n\r\nbody\r\n' % (frm, subject)).encode()

A = conn()

# 1. UIDVALIDITY is strictly new for every recreation of a name, even within one second.
seen = set()
for round in range(3):
    ok(A.create('uv'), 'create uv')
    r = ok(A.append('uv', None, None, msg('x')), 'append uv')
    m = re.search(rb'APPENDUID (\d+) (\d+)', r[0])
    validity = int(ok(A.status('uv', '(UIDVALIDITY)'), 'status')[0].split()[-1].rstrip(b')'))
    if m:
        assert int(m.group(1)) == validity, (r, validity)
    assert validity not in seen, ('UIDVALIDITY reused', validity, seen)
    seen.add(validity)
    if round == 1:
        ok(A.rename('uv', 'uv-old'), 'rename')
    else:
        ok(A.delete('uv'), 'delete uv')
print('uidvalidity ok', sorted(seen))

# 2. \Recent (RFC 3501 §2.3.2): one session gets each new message as recent; SELECT claims
#    them, EXAMINE and STATUS only look.
ok(A.create('rec'), 'create rec')
for i in range(2):
    ok(A.append('rec', None, None, msg('r%d' % i)), 'append rec')
B = conn()
st = ok(B.status('rec', '(MESSAGES RECENT)'), 'status rec')[0]
assert b'RECENT 2' in st, st
ok(B.select('rec', readonly=True), 'examine')
assert B.untagged_responses.get('RECENT') == [b'2'], B.untagged_responses
ok(B.close(), 'close examine')
ok(A.select('rec'), 'select rec')
assert A.untagged_responses.get('RECENT') == [b'2'], A.untagged_responses
flags = ok(A.fetch('1:*', '(FLAGS)'), 'fetch flags')
assert all(b'\\Recent' in f for f in flags), flags
assert ok(A.search(None, 'RECENT'), 'search recent') == [b'1 2']
assert ok(A.search(None, 'NEW'), 'search new') == [b'1 2']
assert ok(A.search(None, 'OLD'), 'search old') == [b'']
ok(B.select('rec'), 'B select rec')
assert B.untagged_responses.get('RECENT') == [b'0'], B.untagged_responses
assert ok(B.search(None, 'RECENT'), 'B search recent') == [b'']
assert ok(B.search(None, 'OLD'), 'B search old') == [b'1 2']
# A new message: recent in the session that hears of it first, only there.
C = conn()
ok(C.append('rec', None, None, msg('r2')), 'append r2')
ok(A.noop(), 'A noop')
assert ok(A.search(None, 'RECENT'), 'A search recent') == [b'1 2 3']
ok(B.noop(), 'B noop')
assert ok(B.search(None, 'RECENT'), 'B search recent 2') == [b'']
C.logout()
print('recent ok')

# 3. LSUB and LIST-EXTENDED on subscriptions.
ok(A.create('par/child'), 'create par/child')
ok(A.subscribe('par/child'), 'subscribe')
ok(A.create('nothere'), 'create nothere')
ok(A.subscribe('nothere'), 'subscribe nothere')
ok(A.delete('nothere'), 'delete nothere')
lsub = [l for l in ok(A.lsub('""', '%'), 'lsub') if l]
assert b'(\\Noselect) "/" par' in lsub or b'(\\Noselect) "/" "par"' in lsub, lsub
assert not any(b'par/child' in l for l in lsub), lsub
lsub = [l for l in ok(A.lsub('""', 'par/%'), 'lsub par/%') if l]
assert any(l.endswith(b'par/child') or l.endswith(b'"par/child"') for l in lsub), lsub
R = Raw()
lines = R.cmd('LIST (SUBSCRIBED) "" "*"')
gone = [l for l in lines if 'nothere' in l]
assert gone and '\\NonExistent' in gone[0] and '\\Subscribed' in gone[0], lines
lines = R.cmd('LIST (RECURSIVEMATCH) "" "*"')
assert lines[-1].split()[1] == 'BAD', lines
lines = R.cmd('LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"')
par = [l for l in lines if re.search(r'"/" "?par"?( |\r)', l)]
# The tag is an astring: Dovecot writes it as an atom, RFC 5258's examples quoted.
assert par and re.search(r'\("?CHILDINFO"? \("SUBSCRIBED"\)\)', par[0]), lines
print('lsub list-extended ok')

# 4. ENVELOPE display name from a comment; SEARCH FROM through comments.
ok(A.create('env'), 'create env')
ok(A.append('env', None, None, msg('c', 'user@domain.org (Real Name)')), 'append c')
ok(A.append('env', None, None, msg('d', '<user-from (comment)@ (comment) domain.org>')), 'append d')
ok(A.select('env'), 'select env')
env = ok(A.fetch('1', '(ENVELOPE)'), 'fetch envelope')[0]
assert b'(("Real Name" NIL "user" "domain.org"))' in env, env
assert ok(A.search(None, 'FROM', 'user-from@domain.org'), 'search from') == [b'2']
print('envelope search ok')

# 5. A STORE that introduces a keyword: FLAGS and PERMANENTFLAGS first, in every session.
R.cmd('SELECT env')
lines = A._simple_command('NOOP')
X = Raw()
X.cmd('SELECT env')
lines = R.cmd('STORE 1 +FLAGS ($NewKeyword13)')
first = lambda pat: next((i for i, l in enumerate(lines) if re.search(pat, l)), None)
f, p, fe = first(r'^\* FLAGS .*\$NewKeyword13'), first(r'PERMANENTFLAGS .*\$NewKeyword13'), first(r'^\* 1 FETCH .*\$NewKeyword13')
assert None not in (f, p, fe) and f < fe and p < fe, lines
lines = X.cmd('NOOP')
f, fe = first(r'^\* FLAGS .*\$NewKeyword13'), first(r'^\* 1 FETCH .*\$NewKeyword13')
assert None not in (f, fe) and f < fe, lines
print('keyword flags ok')

# 6. FETCH of a message another session has just expunged: OK, not NO.
lines = X.cmd('STORE 1 +FLAGS.SILENT (\\Deleted)')
lines = X.cmd('EXPUNGE')
lines = R.cmd('FETCH 1:* (UID FLAGS BODY.PEEK[])')
assert lines[-1].split()[1] == 'OK', lines
assert any(re.match(r'\* 2 FETCH ', l) for l in lines), lines
print('fetch expunged ok')

# 7. CREATE a/b makes a, so that DELETE a works (postern; Dovecot's Maildir++ makes none).
if server == 'postern':
    ok(A.create('sup/inner'), 'create sup/inner')
    ok(A.delete('sup/inner'), 'delete inner')
    ok(A.delete('sup'), 'delete sup')
    print('create superiors ok')

# 8. ID with spaces inside the parentheses.
lines = R.cmd('ID ( "name" "x" )')
assert lines[-1].split()[1] == 'OK' and any(l.startswith('* ID ') for l in lines), lines
print('id ok')
# 9. SORT (RFC 5256, 5957) and THREAD: the same answers from both servers.
ok(A.create('srt'), 'create srt')
for m in [
    'From: Zed <z@x>\r\nSubject: Hello\r\nMessage-ID: <a@x>\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n\r\nx\r\n',
    'From: amy@x\r\nSubject: Re: Hello\r\nMessage-ID: <b@x>\r\nReferences: <a@x>\r\nDate: Mon, 1 Jan 2024 12:00:00 +0000\r\n\r\nxx\r\n',
    'From: bob@x\r\nSubject: Apples\r\nMessage-ID: <c@x>\r\nDate: Mon, 1 Jan 2024 09:00:00 +0000\r\n\r\nxxxxxxxx\r\n',
    'From: Al <c@x>\r\nSubject: Re: hello\r\nMessage-ID: <d@x>\r\nDate: Mon, 1 Jan 2024 11:00:00 +0000\r\n\r\n\r\n',
    'From: Eve <e@x>\r\nSubject: [list] Fwd: Apples (fwd)\r\nMessage-ID: <e@x>\r\nIn-Reply-To: <c@x>\r\nDate: Mon, 1 Jan 2024 13:00:00 +0000\r\n\r\nxxx\r\n',
]:
    ok(A.append('srt', None, None, m.encode()), 'append srt')
ok(A.select('srt'), 'select srt')
for crit, want in [
    ('(SUBJECT)', b'3 5 1 2 4'),
    ('(REVERSE DATE)', b'5 2 4 1 3'),
    ('(FROM SIZE)', b'2 3 4 5 1'),
    ('(DISPLAYFROM)', b'4 2 3 5 1'),
    ('(REVERSE SUBJECT DATE)', b'1 4 2 3 5'),
]:
    got = ok(A.sort(crit, 'UTF-8', 'ALL'), 'sort ' + crit)
    assert got == [want], (crit, got, want)
uids = ok(A.uid('SORT', '(SUBJECT)', 'UTF-8', 'ALL'), 'uid sort')[0].split()
assert len(uids) == 5, uids
for algo, want in [
    ('ORDEREDSUBJECT', b'(3 5)(1 (4)(2))'),
    ('REFERENCES', b'(3 5)(1 (4)(2))'),
]:
    got = ok(A.thread(algo, 'UTF-8', 'ALL'), 'thread ' + algo)
    assert got == [want], (algo, got, want)
got = ok(A.thread('REFERENCES', 'UTF-8', 'FROM', 'amy'), 'thread subset')
assert got == [b'(2)'], got
print('sort thread ok')

# 10. ESEARCH (RFC 4731) and SEARCHRES (RFC 5182): the same answers from both servers.
lines = R.cmd('SELECT srt')
lines = R.cmd('SEARCH RETURN (MIN MAX COUNT ALL) FROM x')
es = [l for l in lines if l.startswith('* ESEARCH')]
assert es == ['* ESEARCH (TAG "r%d") MIN 1 MAX 5 COUNT 5 ALL 1:5\r\n' % R.n] or \
    es == ['* ESEARCH (TAG "r%d") MIN 1 MAX 5 ALL 1:5 COUNT 5\r\n' % R.n], lines
lines = R.cmd('SEARCH RETURN (COUNT) SUBJECT nothing-at-all')
assert [l for l in lines if l.startswith('* ESEARCH')] == ['* ESEARCH (TAG "r%d") COUNT 0\r\n' % R.n], lines
# CONTEXT=SEARCH's PARTIAL (RFC 5267 §4.4): positions in the result list, NIL beyond it.
for ret, want in (('PARTIAL 2:3', 'PARTIAL (2:3 2:3)'), ('PARTIAL 4:10', 'PARTIAL (4:10 4:5)'),
                  ('PARTIAL 20:30', 'PARTIAL (20:30 NIL)')):
    lines = R.cmd('SEARCH RETURN (%s) FROM x' % ret)
    assert [l for l in lines if l.startswith('* ESEARCH')] == \
        ['* ESEARCH (TAG "r%d") %s\r\n' % (R.n, want)], lines
lines = R.cmd('SEARCH RETURN (PARTIAL 1:2 ALL) FROM x')
assert lines[-1].split()[1] == 'BAD', lines
# ESORT (RFC 5267 §3): SORT's results in one ESEARCH, MIN and MAX first and last in sort order,
# ALL and PARTIAL in sort order (ranges only where the numbers ascend), the same from both.
for ret, want in (('MIN MAX COUNT ALL', 'MIN 3 MAX 4 ALL 3,5,1:2,4 COUNT 5'),
                  ('PARTIAL 2:3', 'PARTIAL (2:3 5,1)'), ('PARTIAL 9:10 COUNT', 'PARTIAL (9:10 NIL) COUNT 5'),
                  ('', 'ALL 3,5,1:2,4')):
    lines = R.cmd('SORT RETURN (%s) (SUBJECT) UTF-8 ALL' % ret)
    assert [l for l in lines if l.startswith('* ESEARCH') or l.startswith('* SORT')] == \
        ['* ESEARCH (TAG "r%d") %s\r\n' % (R.n, want)], lines
lines = R.cmd('UID SORT RETURN (MIN MAX) (REVERSE DATE) UTF-8 FROM nobody-here')
assert [l for l in lines if l.startswith('* ESEARCH')] == ['* ESEARCH (TAG "r%d") UID\r\n' % R.n], lines
# CONTEXT=SEARCH's UPDATE (RFC 5267 §4.3): another session's flag changes reach a kept search
# as ADDTO / REMOVEFROM at the next NOOP, until CANCELUPDATE.
lines = R.cmd('SEARCH RETURN (UPDATE COUNT) FLAGGED FROM x')
kept = 'r%d' % R.n
assert '* ESEARCH (TAG "%s") COUNT 0\r\n' % kept in lines and lines[-1].split()[1] == 'OK', lines
ok(A.select('srt'), 'select srt')
ok(A.store('2', '+FLAGS', '\\Flagged'), 'flag 2')
lines = R.cmd('NOOP')
assert '* ESEARCH (TAG "%s") ADDTO (0 2)\r\n' % kept in lines, lines
ok(A.store('2', '-FLAGS', '\\Flagged'), 'unflag 2')
lines = R.cmd('NOOP')
assert '* ESEARCH (TAG "%s") REMOVEFROM (0 2)\r\n' % kept in lines, lines
lines = R.cmd('CANCELUPDATE "%s"' % kept)
assert lines[-1].split()[1] == 'OK', lines
ok(A.store('3', '+FLAGS', '\\Flagged'), 'flag 3')
lines = R.cmd('NOOP')
assert not any(l.startswith('* ESEARCH') for l in lines), lines
ok(A.store('3', '-FLAGS', '\\Flagged'), 'unflag 3')
ok(A.close(), 'close srt')
R.cmd('NOOP')
lines = R.cmd('SEARCH RETURN (SAVE) SUBJECT apples')
assert not any(l.startswith('* ESEARCH') or l.startswith('* SEARCH') for l in lines), lines
assert lines[-1].split()[1] == 'OK', lines
lines = R.cmd('FETCH $ (FLAGS)')
assert [l.split()[1] for l in lines if l.startswith('* ') and ' FETCH ' in l] == ['3', '5'], lines
lines = R.cmd('SEARCH $ FROM eve')
assert '* SEARCH 5\r\n' in lines, lines
print('esearch esort searchres ok')

# 11. MULTIAPPEND (RFC 3502): three messages in one APPEND, one APPENDUID for all.
ok(A.create('multi'), 'create multi')
m1, m2, m3 = b'Subject: 1\r\n\r\na\r\n', b'Subject: 2\r\n\r\nbb\r\n', b'Subject: 3\r\n\r\nccc\r\n'
R.n += 1
tag = 'r%d' % R.n
R.s.sendall(('%s APPEND multi (\\Seen) {%d+}\r\n' % (tag, len(m1))).encode() + m1 +
            (' "07-Feb-1994 21:52:25 -0800" {%d+}\r\n' % len(m2)).encode() + m2 +
            (' {%d+}\r\n' % len(m3)).encode() + m3 + b'\r\n')
while True:
    line = R.f.readline().decode()
    if line.startswith(tag + ' '):
        break
assert line.split()[1] == 'OK' and re.search(r'APPENDUID \d+ \d+:\d+\]', line), line
st = ok(A.status('multi', '(MESSAGES)'), 'status multi')[0]
assert b'MESSAGES 3' in st, st
print('multiappend ok')

# 12. BINARY (RFC 3516): parts decoded; literal8 when they hold a NUL.
ok(A.create('bin'), 'create bin')
mime = (b'Subject: bin\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n'
        b'--x\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\ncaf=C3=A9=\r\n!\r\n'
        b'--x\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\nAAEC\r\n'
        b'--x--\r\n')
ok(A.append('bin', None, None, mime), 'append bin')
R.cmd('SELECT bin')
lines = R.cmd('FETCH 1 (BINARY.PEEK[1] BINARY.SIZE[2])')
text = ''.join(lines)
# A literal8 is allowed for any content (Dovecot sends one always), required with a NUL.
assert re.search('BINARY\\[1\\] ~?\\{6\\}\r\ncaf\u00e9!', text) and 'BINARY.SIZE[2] 3' in text, lines
lines = R.cmd('FETCH 1 (BINARY.PEEK[2])')
assert '~{3}\r\n\x00\x01\x02' in ''.join(lines), lines
print('binary ok')

# 13. CATENATE (RFC 4469): a message made of text and a section of another by URL.
st = ok(A.status('bin', '(UIDVALIDITY)'), 'status bin')[0]
bv = int(re.search(rb'UIDVALIDITY (\d+)', st).group(1))
ok(A.create('cat'), 'create cat')
hdr = b'Subject: made\r\n\r\n'
R.n += 1
tag = 'r%d' % R.n
R.s.sendall(('%s APPEND cat CATENATE (TEXT {%d+}\r\n' % (tag, len(hdr))).encode() + hdr +
            (' URL "/bin;UIDVALIDITY=%d/;UID=1/;SECTION=1" TEXT {2+}\r\n!\n)\r\n' % bv).encode())
while True:
    line = R.f.readline().decode()
    if line.startswith(tag + ' '):
        break
assert line.split()[1] == 'OK' and 'APPENDUID' in line, line
R.cmd('SELECT cat')
lines = R.cmd('FETCH 1 BODY.PEEK[TEXT]')
# The part's body ends before the CRLF of its boundary; the TEXT part follows directly.
assert 'BODY[TEXT] {16}\r\ncaf=C3=A9=\r\n!!\r\n)' in ''.join(lines), lines
lines = R.cmd('APPEND cat CATENATE (URL "/bin/;UID=99")')
assert lines[-1].split()[1] == 'NO' and 'BADURL' in lines[-1], lines
print('catenate ok')

print('compliance ok')
