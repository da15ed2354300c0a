# IMAP4rev2 (RFC 9051) through Python imaplib: ENABLE IMAP4rev2 and its semantics, beside an
# IMAP4rev1 session on the same mailbox. Args: port password
import imaplib, ssl, sys

imaplib.Commands.setdefault('ENABLE', ('AUTH', 'SELECTED'))
port, pw = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE


def ok(res, what):
    typ, data = res
    assert typ == 'OK', f'{what}: {typ} {data}'
    return data


def login():
    C = imaplib.IMAP4_SSL('127.0.0.1', port, ssl_context=ctx)
    ok(C.login('demo', pw), 'login')
    return C


M = login()
caps = M.capabilities
assert 'IMAP4REV1' in caps and 'IMAP4REV2' in caps, caps
limit = [c for c in caps if c.startswith('APPENDLIMIT=')]
assert limit and int(limit[0].split('=')[1]) > 0, caps

# Three messages in INBOX; a rev1 session (R) selects first and claims them as \Recent.
for i in range(3):
    ok(M.append('INBOX', None, None, f'Subject: rev2 test {i}\r\n\r\nbody {i}\r\n'.encode()), 'append')
R = login()
ok(R.select('INBOX'), 'rev1 select')
assert R.untagged_responses.get('RECENT'), R.untagged_responses

# rev2: ENABLE, then SELECT has no RECENT and carries the mailbox's LIST line.
enabled = ok(M._simple_command('ENABLE', 'IMAP4rev2'), 'enable')
assert M.untagged_responses.pop('ENABLED', None) == [b'IMAP4rev2'], M.untagged_responses
M.untagged_responses.clear()
typ, data = M.select('INBOX')
assert typ == 'OK', data
untagged = dict(M.untagged_responses)
assert 'RECENT' not in untagged, untagged
assert any(b'INBOX' in l for l in untagged.get('LIST', [])), untagged
assert untagged.get('EXISTS'), untagged

# SEARCH is answered as ESEARCH (RETURN (ALL)); imaplib keeps it under ESEARCH.
typ, data = M.search(None, 'ALL')
assert typ == 'OK', data
es = M.untagged_responses.pop('ESEARCH', [])
assert es and b'ALL 1:' in es[-1], (es, M.untagged_responses)
typ, data = M.uid('SEARCH', 'SUBJECT', '"rev2 test 1"')
es = M.untagged_responses.pop('ESEARCH', [])
assert typ == 'OK' and es and b' UID ALL ' in es[-1], (typ, data, es)

# No \Recent in FLAGS; STATUS with DELETED and SIZE.
typ, data = M.fetch('1:*', '(FLAGS)')
assert typ == 'OK' and all(b'\\Recent' not in d for d in data), data
ok(M.store('1', '+FLAGS', '\\Deleted'), 'store')
typ, data = M.status('INBOX', '(MESSAGES DELETED SIZE)')
assert typ == 'OK' and b'DELETED 1' in data[0] and b'SIZE ' in data[0], data

# Mailbox names are UTF-8 for the rev2 session, modified UTF-7 for the rev1 one.
name = 'Entwürfe-rev2'
ok(M._simple_command('CREATE', M._quote(name).encode('utf-8')), 'create utf-8 name')
typ, data = M.list('""', 'Entw*')
flat = b''.join(d[0] + d[1] if isinstance(d, tuple) else d for d in data if d)
assert typ == 'OK' and name.encode('utf-8') in flat, data
typ, data = R.list('""', 'Entw*')
assert typ == 'OK' and b'Entw&APw-rfe-rev2' in b''.join(data), data
ok(M._simple_command('DELETE', M._quote(name).encode('utf-8')), 'delete utf-8 name')

# An APPEND over the advertised limit is refused [TOOBIG] before the data is sent.
big = int(limit[0].split('=')[1]) + 1
tag = M._new_tag()
M.send(tag + f' APPEND INBOX {{{big}}}\r\n'.encode())
line = M._get_line()
assert b'NO [TOOBIG]' in line, line
ok(M.noop(), 'still usable')

M.logout()
R.logout()
print('rev2 ok')
