# Python imaplib against postern imapd: every command, checked. Args: port password corpus-dir
import imaplib, ssl, sys, os, re

for c in ('ID', 'MOVE', 'UNSELECT', 'ENABLE'):
    imaplib.Commands.setdefault(c, ('NONAUTH', 'AUTH', 'SELECTED'))
port, pw, corpus = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE

def ok(res, what):
    typ, data = res
    assert typ == 'OK', f'{what}: {typ} {data}'
    return data

def flat(data):
    out = b''
    for d in data:
        if isinstance(d, tuple):
            out += d[0] + d[1]
        elif d is not None:
            out += d
    return out

M = imaplib.IMAP4_SSL('127.0.0.1', port, ssl_context=ctx)
M.debug = int(os.environ.get("IMAPDEBUG", "0"))
assert 'IDLE' in M.capabilities and 'UIDPLUS' in M.capabilities and 'MOVE' in M.capabilities
# Wrong state: SELECT before login is BAD, connection stays usable.
def raw(cmd, C=None):
    C = C or M
    tag = C._new_tag()
    C.send(tag + b' ' + cmd + b'\r\n')
    while True:
        line = C.readline()
        if line.startswith(tag + b' ') or not line:
            return line
def refused(cmd, status, *reason, C=None):
    """A tagged NO/BAD with a reason for `cmd`, and the connection still answers NOOP."""
    C = C or M
    line = raw(cmd, C)
    tag = line.split(b' ', 1)[0]
    assert line.startswith(tag + b' ' + status + b' '), (cmd, line)
    text = line.split(b' ', 2)[2].strip()
    assert len(text) > 8, (cmd, line)
    for r in reason:
        assert r in text, (cmd, r, line)
    typ, _ = C.noop()
    assert typ == 'OK', (cmd, 'connection unusable after', line)
    return text
def session():
    C = imaplib.IMAP4_SSL('127.0.0.1', port, ssl_context=ctx)
    C.login('demo', pw)
    assert C.select('INBOX')[0] == 'OK'
    return C
def battery(cases):
    """Each case on a session with INBOX selected; a new session every 8 protocol errors
    ([limits] errors = 10 closes the connection at the 10th)."""
    C, n = None, 0
    for cmd, status, *reason in cases:
        if C is None or n == 8:
            if C: C.logout()
            C, n = session(), 0
        refused(cmd, status, *reason, C=C)
        n += 1
    C.logout()
refused(b'SELECT INBOX', b'BAD', b'SELECT not allowed now: Log in first')
try:
    M.login('demo', 'wrong'); raise SystemExit('bad password accepted')
except imaplib.IMAP4.error as e:
    assert 'AUTHENTICATIONFAILED' in str(e), e
ok(M.login('demo', pw), 'LOGIN')
ok(M.noop(), 'NOOP')
typ, data = M._simple_command('ID', '("name" "imaplib")'); assert typ == 'OK'
assert b'postern' in flat(M.untagged_responses.pop('ID', [])), 'ID'
typ, data = M.namespace(); assert typ == 'OK' and data[0] == b'(("" "/")) NIL NIL', data
typ, data = M._simple_command('ENABLE', 'CONDSTORE'); assert typ == 'OK'
assert M.untagged_responses.pop('ENABLED', [b''])[0] == b'CONDSTORE'

# SPECIAL-USE folders exist after the first login.
listing = b'\n'.join(ok(M.list(), 'LIST'))
for attr, name in [(b'\\Sent', b'Sent'), (b'\\Drafts', b'Drafts'), (b'\\Trash', b'Trash'),
                   (b'\\Junk', b'Junk'), (b'\\Archive', b'Archive')]:
    assert re.search(rb'\(.*' + re.escape(attr) + rb'.*\) "/" ' + name, listing), listing

# CREATE-SPECIAL-USE (RFC 6154): the attribute is kept and listed; unknown ones are refused.
typ, data = M._simple_command('CREATE', 'Outgoing', r'(USE (\Sent))'); assert typ == 'OK', data
assert ok(M.list('""', 'Outgoing'), 'LIST') == [b'(\\HasNoChildren \\Sent) "/" Outgoing']
typ, data = M._simple_command('CREATE', 'Weird', r'(USE (\Important))')
assert typ == 'NO' and data[0].startswith(b'[USEATTR] '), data
assert ok(M.list('""', 'Weird'), 'LIST') == [None]
ok(M.delete('Outgoing'), 'DELETE Outgoing')

# CREATE / hierarchy / RENAME / DELETE / SUBSCRIBE / LSUB
ok(M.create('Lists/rust'), 'CREATE child')
ok(M.create('Projekt/Entw&APw-rfe'), 'CREATE utf7')
typ, _ = M.create('Lists/rust'); assert typ == 'NO'
data = ok(M.list('""', 'Lists/%'), 'LIST %')
assert data == [b'(\\HasNoChildren) "/" Lists/rust'], data
# CREATE made the superiors too (RFC 3501 §6.3.3): real mailboxes, so CREATE of one is NO.
data = ok(M.list('""', 'Lists'), 'LIST parent')
assert data == [b'(\\HasChildren) "/" Lists'], data
data = ok(M.list('""', '%'), 'LIST top')
assert b'(\\HasChildren) "/" Projekt' in data, data
typ, data = M.create('Lists'); assert typ == 'NO' and b'ALREADYEXISTS' in data[0], data
ok(M.rename('Lists', 'Groups'), 'RENAME with children')
data = ok(M.list('""', 'Groups*'), 'LIST *')
assert data == [b'(\\HasChildren) "/" Groups', b'(\\HasNoChildren) "/" Groups/rust'], data
ok(M.subscribe('Groups/rust'), 'SUBSCRIBE')
data = ok(M.lsub('""', 'Groups/*'), 'LSUB')
assert data == [b'() "/" Groups/rust'], data
ok(M.unsubscribe('Groups/rust'), 'UNSUBSCRIBE')
assert ok(M.lsub('""', 'Groups/*'), 'LSUB') == [None]
ok(M.delete('Groups/rust'), 'DELETE')
typ, data = M.delete('Groups/rust'); assert typ == 'NO' and b'NONEXISTENT' in data[0], data
typ, data = M.delete('INBOX'); assert typ == 'NO'
# Names that would leave the maildir are refused; the connection stays usable.
for bad in ['../etc', 'a/../../b', 'Trash/..', '/abs', 'a//b']:
    typ, data = M.create(bad)
    assert typ == 'NO' and data[0].startswith(b'[CANNOT] Invalid mailbox name: '), (bad, data)
    typ, data = M.select(bad)
    assert typ == 'NO' and data[0].startswith(b'[CANNOT] Invalid mailbox name: '), (bad, data)
    ok(M.noop(), 'NOOP after ' + bad)
assert not os.path.exists(os.path.join(os.path.dirname(corpus), 'etc'))

# APPEND with flags, date and a literal; APPENDUID.
msg = b'From: Carol <carol@example.org>\r\nTo: demo@example.test\r\nSubject: first\r\nDate: Mon, 7 Oct 2024 10:00:00 +0000\r\n\r\nHello there, unique-word-xyzzy.\r\n'
typ, data = M.append('INBOX', r'(\Flagged $Work)', imaplib.Time2Internaldate(1700000000), msg)
assert typ == 'OK' and re.match(rb'\[APPENDUID \d+ 1\]', data[0]), data
typ, data = M.append('Nope', None, None, msg); assert typ == 'NO' and b'TRYCREATE' in data[0], data

# Corpus: ENVELOPE / BODY / BODYSTRUCTURE / RFC822.SIZE compared literally.
names = sorted(f[:-4] for f in os.listdir(corpus) if f.endswith('.eml'))
for n in names:
    ok(M.append('INBOX', None, None, open(os.path.join(corpus, n + '.eml'), 'rb').read()), 'APPEND ' + n)
typ, data = M.status('INBOX', '(MESSAGES UIDNEXT UNSEEN RECENT UIDVALIDITY)')
assert typ == 'OK' and f'MESSAGES {1 + len(names)}'.encode() in data[0], data
data = ok(M.select('INBOX'), 'SELECT')
assert data == [str(1 + len(names)).encode()], data
assert M.untagged_responses.get('UIDVALIDITY'), 'UIDVALIDITY'
for i, n in enumerate(names, start=2):
    text = open(os.path.join(corpus, n + '.expected'), 'rb').read().rstrip(b'\r\n')
    for line in re.split(rb'\r?\n(?=(?:RFC822\.SIZE|ENVELOPE|BODY|BODYSTRUCTURE) )', text):
        line = re.sub(rb'(\{\d+\})\r?\n', rb'\1', line)
        item = line.split(b' ', 1)[0]
        data = ok(M.fetch(str(i), '(' + item.decode() + ')'), 'FETCH ' + n)
        got = flat(data)
        want = str(i).encode() + b' (' + line + b')'
        # The corpus files hold 8-bit header bytes as U+FFFD; compare the same way.
        got, want = got.decode('utf-8', 'replace'), want.decode('utf-8', 'replace')
        assert got == want, f'{n} {item}:\n got  {got}\n want {want}'

# FETCH variants on message 1.
data = flat(ok(M.fetch('1', '(UID FLAGS INTERNALDATE RFC822.SIZE)'), 'FETCH'))
assert b'UID 1' in data and b'\\Flagged' in data and b'$Work' in data and b'\\Seen' not in data, data
assert b'INTERNALDATE "14-Nov-2023 22:13:20 +0000"' in data, data
data = flat(ok(M.fetch('1', '(BODY.PEEK[HEADER.FIELDS (SUBJECT)])'), 'FETCH header fields'))
assert b'Subject: first\r\n\r\n' in data, data
data = flat(ok(M.fetch('1', '(FLAGS)'), 'FLAGS'))
assert b'\\Seen' not in data, 'PEEK set \\Seen'
data = flat(ok(M.fetch('1', '(BODY[TEXT]<0.5>)'), 'partial'))
assert b'BODY[TEXT]<0> {5}Hello' in data, data
data = flat(ok(M.fetch('1', '(FLAGS)'), 'FLAGS'))
assert b'\\Seen' in data, 'BODY[] did not set \\Seen'
data = flat(ok(M.fetch('1', '(RFC822.HEADER)'), 'RFC822.HEADER'))
assert data.endswith(b'\r\n\r\n)'), data
# Bad input: each a tagged BAD with the reason, the session going on.
battery([
    (b'FETCH 99 (FLAGS)', b'BAD', b'Invalid message sequence number 99'),
    (b'FETCH 0 (FLAGS)', b'BAD', b'invalid sequence set'),
    (b'FETCH 1:x (FLAGS)', b'BAD', b'invalid sequence set'),
    (b'FETCH 1,,2 (FLAGS)', b'BAD', b'invalid sequence set'),
    (b'FETCH 1 (FLAGS', b'BAD', b'unbalanced parentheses'),
    (b'FETCH 1 (FLAGS (UID)', b'BAD', b'syntax error'),
    (b'FETCH 1 FLAGS)', b'BAD', b'unexpected data'),
    (b'SEARCH (FLAGGED', b'BAD', b'unbalanced parentheses'),
    (b'SEARCH OR FLAGGED', b'BAD', b'syntax error'),
    (b'STORE 1 +FLAGS (\\Seen', b'BAD', b'unbalanced parentheses'),
    (b'SEARCH ' + b'(' * 200 + b'ALL' + b')' * 200, b'BAD', b'nesting too deep'),
    (b'SEARCH ' + b'NOT ' * 5000 + b'ALL', b'BAD', b'nesting too deep'),
    (b'SEARCH UID 5:x', b'BAD', b'invalid sequence set'),
    (b'FROBNICATE', b'BAD', b'unknown command FROBNICATE'),
    (b'LOGIN demo x', b'BAD', b'Already authenticated'),
    (b'SELECT "../etc"', b'NO', b'[CANNOT] Invalid mailbox name'),
])
# The tenth protocol error on one connection ends it ([limits] errors).
C = session()
for i in range(9):
    assert b' BAD ' in raw(b'FROB', C)
C.send(b'x FROB\r\n')
assert C.readline().startswith(b'x BAD'), 'tenth error'
assert C.readline() == b'* BYE Too many errors\r\n'
assert C.readline() == b'', 'connection not closed after too many errors'

data = flat(ok(M.uid('FETCH', '1:*', '(FLAGS)'), 'UID FETCH'))
assert data.count(b'FETCH') == 0 and data.count(b'UID ') == 1 + len(names), data

# SEARCH: flags, header, body, dates, sizes, OR/NOT/parentheses, UID sets, charset.
def search(*crit, uid=False):
    res = M.uid('SEARCH', *crit) if uid else M.search(None, *crit)
    return ok(res, 'SEARCH ' + ' '.join(crit))[0].split()
assert search('FLAGGED') == [b'1']
assert search('KEYWORD', '$Work') == [b'1']
assert search('SUBJECT', 'first') == [b'1']
assert search('BODY', 'unique-word-xyzzy') == [b'1']
assert search('TEXT', 'UNIQUE-WORD') == [b'1']
assert search('FROM', 'carol') == [b'1']
assert search('HEADER', 'Message-ID', '<alt-1@example.com>') != []
assert search('NOT', 'FLAGGED') == [str(i).encode() for i in range(2, 2 + len(names))]
assert search('OR', 'FLAGGED', '(SUBJECT lunch)') != []
assert search('SENTON', '7-Oct-2024') == [b'1']
assert search('BEFORE', '1-Jan-2024') == [b'1']
assert search('LARGER', '100000') == []
assert search('UID', '1', uid=True) == [b'1']
assert search('1:2', 'SEEN') == [b'1']
assert M.search('UTF-8', 'SUBJECT', 'first')[1][0] == b'1'
typ, data = M.search('KOI8-R', 'ALL'); assert typ == 'NO' and b'BADCHARSET' in data[0], data

# STORE (.SILENT), CONDSTORE UNCHANGEDSINCE / CHANGEDSINCE.
typ, data = M.status('INBOX', '(HIGHESTMODSEQ)')
assert typ == 'OK', data
highest = int(re.search(rb'HIGHESTMODSEQ (\d+)', data[0]).group(1))
data = flat(ok(M.store('2', '+FLAGS', r'(\Answered)'), 'STORE'))
assert b'\\Answered' in data and b'MODSEQ' in data, data
typ, data = M.store('2', '-FLAGS.SILENT', r'(\Answered)'); assert typ == 'OK'
data = flat(ok(M.fetch('2', '(FLAGS MODSEQ)'), 'MODSEQ'))
m = re.search(rb'MODSEQ \((\d+)\)', data); assert m and b'\\Answered' not in data, data
modseq = int(m.group(1))
typ, data = M._simple_command('STORE', '2', f'(UNCHANGEDSINCE {modseq - 1})', '+FLAGS', r'(\Flagged)')
assert typ == 'OK' and b'[MODIFIED 2]' in data[0], data
# CHANGEDSINCE: only the messages changed after the given modseq, each with its MODSEQ.
def changed_since(n):
    typ, data = M._simple_command('FETCH', '1:*', '(FLAGS)', f'(CHANGEDSINCE {n})')
    assert typ == 'OK', data
    return sorted(M.untagged_responses.pop('FETCH', []))
got = changed_since(highest)
assert len(got) == 1 and got[0].startswith(b'2 (') and b'MODSEQ (' in got[0], got
assert changed_since(int(re.search(rb'MODSEQ \((\d+)\)', got[0]).group(1))) == []
data = flat(ok(M.store('1', '+FLAGS', r'($Later)'), 'STORE 1'))
got = changed_since(highest)
assert [g.split(b' ')[0] for g in got] == [b'1', b'2'], got
# SELECT (CONDSTORE) and STATUS (HIGHESTMODSEQ) agree, in a second session.
M2 = imaplib.IMAP4_SSL('127.0.0.1', port, ssl_context=ctx)
M2.login('demo', pw)
typ, data = M2._simple_command('SELECT', 'INBOX', '(CONDSTORE)'); assert typ == 'OK', data
selected_highest = int(M2.untagged_responses['HIGHESTMODSEQ'][0])
typ, data = M2.status('INBOX', '(HIGHESTMODSEQ)')
assert data[0].endswith(f'(HIGHESTMODSEQ {selected_highest})'.encode()), (data, selected_highest)
assert selected_highest > highest
M2.logout()

# COPY / MOVE with COPYUID, UID EXPUNGE, EXPUNGE, CHECK, CLOSE, UNSELECT, EXAMINE.
typ, data = M.copy('1:2', 'Trash'); assert typ == 'OK' and re.search(rb'\[COPYUID \d+ 1:2 1:2\]', data[0]), data
typ, data = M.copy('1', 'Nope'); assert typ == 'NO' and b'TRYCREATE' in data[0], data
count = 1 + len(names)
typ, data = M.uid('MOVE', '3', 'Archive'); assert typ == 'OK', data
assert any(b'COPYUID' in d for d in M.untagged_responses.pop('OK', [])), 'MOVE COPYUID'
assert M.untagged_responses.pop('EXPUNGE', []) == [b'3'], 'MOVE EXPUNGE'
count -= 1
ok(M.store('1:2', '+FLAGS.SILENT', r'(\Deleted)'), 'STORE deleted')
typ, data = M.uid('EXPUNGE', '2'); assert typ == 'OK'
assert M.untagged_responses.pop('EXPUNGE', []) == [b'2'], 'UID EXPUNGE'
count -= 1
data = ok(M.expunge(), 'EXPUNGE')
assert data == [b'1'], data
count -= 1
ok(M.check(), 'CHECK')
typ, data = M.status('Trash', '(MESSAGES)'); assert b'MESSAGES 2' in data[0], data
ok(M.select('Trash', readonly=True), 'EXAMINE')
typ, data = M.store('1', '+FLAGS', r'(\Deleted)'); assert typ == 'NO' and b'[READ-ONLY]' in data[0], data
# Trash 1 is a copy of a message already read; Trash 2 has never been read.
data = flat(ok(M.fetch('1:2', '(FLAGS)'), 'FLAGS in EXAMINE'))
assert re.search(rb'1 \(FLAGS \([^)]*\\Seen', data) and not re.search(rb'2 \(FLAGS \([^)]*\\Seen', data), data
data = flat(ok(M.fetch('2', '(BODY[])'), 'FETCH in EXAMINE'))
assert b'FLAGS' not in data and b'\\Seen' not in data, data
data = flat(ok(M.fetch('2', '(FLAGS)'), 'FLAGS in EXAMINE'))
assert b'\\Seen' not in data, 'FETCH BODY[] in EXAMINE set \\Seen: ' + repr(data)
ok(M._simple_command('UNSELECT'), 'UNSELECT')
typ, data = M.status('Trash', '(UNSEEN)'); assert data[0].endswith(b'(UNSEEN 1)'), data
typ, data = M.select('INBOX'); assert data == [str(count).encode()], data
ok(M.close(), 'CLOSE')
# A 1 GB literal announcement is refused at once; the connection stays usable.
refused(b'APPEND INBOX {1073741824}', b'NO', b'[TOOBIG] message of 1073741824 octets is larger than the APPEND limit')
# RENAME INBOX moves its messages into a new folder.
ok(M.rename('INBOX', 'Old'), 'RENAME INBOX')
typ, data = M.status('Old', '(MESSAGES)'); assert f'MESSAGES {count}'.encode() in data[0], data
typ, data = M.status('INBOX', '(MESSAGES)'); assert b'MESSAGES 0' in data[0], data
M.logout()
print('all commands ok')
