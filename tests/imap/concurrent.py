# Two sessions on one mailbox: one changes flags, expunges and appends; the other
# fetches meanwhile and sees every change at the right moment; then a QRESYNC client
# resynchronises. Args: imaps-port password
import imaplib, ssl, sys, re
port, pw = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
def conn():
    M = imaplib.IMAP4_SSL('127.0.0.1', port, ssl_context=ctx)
    M.login('demo', pw)
    return M
A, B = conn(), conn()
A.create('Conc')
for i in range(10):
    A.append('Conc', None, None, f'Subject: m{i}\r\n\r\nbody {i}\r\n'.encode())
assert A.select('Conc')[1] == [b'10']
assert B.select('Conc')[1] == [b'10']
uids_b = B.uid('SEARCH', 'ALL')[1][0].split()
assert uids_b == A.uid('SEARCH', 'ALL')[1][0].split() and len(uids_b) == 10

# A flags and expunges messages 2 and 3; B, fetching, must not see EXPUNGE during FETCH.
A.store('2:3', '+FLAGS', r'(\Deleted)')
A.store('5', '+FLAGS', r'(\Flagged)')
assert A.expunge()[1] == [b'3', b'2'], 'A EXPUNGE'
typ, data = B.fetch('1:10', '(UID)')
assert typ == 'OK', data
assert 'EXPUNGE' not in B.untagged_responses, B.untagged_responses
# NOOP delivers the expunges and the flag change.
B.noop()
assert B.untagged_responses.pop('EXPUNGE', []) == [b'3', b'2'], 'B EXPUNGE'
fetches = b' '.join(B.untagged_responses.pop('FETCH', []) + [d for d in data if isinstance(d, bytes)])
assert b'\\Flagged' in fetches, fetches

# A appends; B sees EXISTS on NOOP, with the same UIDs as A.
typ, data = A.append('Conc', r'(\Seen)', None, b'Subject: new\r\n\r\nnew\r\n')
new_uid = re.search(rb'APPENDUID \d+ (\d+)', data[0]).group(1)
B.noop()
assert B.untagged_responses.pop('EXISTS', [])[-1] == b'9', 'B EXISTS'
assert A.uid('SEARCH', 'ALL')[1] == B.uid('SEARCH', 'ALL')[1]
typ, data = B.uid('FETCH', new_uid, '(FLAGS)')
assert b'\\Seen' in data[0], data
# UID FETCH of a message A expunged meanwhile: B gets the EXPUNGE with the UID command.
A.store('1', '+FLAGS.SILENT', r'(\Deleted)'); A.expunge()
typ, data = B.uid('FETCH', '1:*', '(FLAGS)')
assert typ == 'OK'
assert B.untagged_responses.pop('EXPUNGE', []) == [b'1'], 'UID FETCH EXPUNGE'

# QRESYNC (RFC 7162): a client that knew the mailbox comes back and learns, in its SELECT,
# exactly which of its messages changed and which vanished; then expunges arrive as VANISHED.
def qresync_session():
    C = conn()
    typ, data = C._simple_command('ENABLE', 'QRESYNC'); assert typ == 'OK', data
    assert C.untagged_responses.pop('ENABLED', []) == [b'QRESYNC']
    return C
C = qresync_session()
assert C.select('Conc')[0] == 'OK'
validity = int(C.untagged_responses['UIDVALIDITY'][0])
modseq = int(C.untagged_responses['HIGHESTMODSEQ'][0])
known = C.uid('SEARCH', 'ALL')[1][0].split()
C.logout()
A.uid('STORE', known[1], '+FLAGS', r'(\Answered)')
A.uid('STORE', known[2], '+FLAGS.SILENT', r'(\Deleted)'); A.expunge()
C = qresync_session()
typ, data = C._simple_command('SELECT', 'Conc', f'(QRESYNC ({validity} {modseq} {b",".join(known).decode()}))')
assert typ == 'OK', data
assert C.untagged_responses.pop('VANISHED', []) == [b'(EARLIER) ' + known[2]], C.untagged_responses
changed = C.untagged_responses.pop('FETCH', [])
assert len(changed) == 1 and b'UID ' + known[1] + b' ' in changed[0] and b'\\Answered' in changed[0], changed
A.uid('STORE', known[3], '+FLAGS.SILENT', r'(\Deleted)'); A.expunge()
C.noop()
assert C.untagged_responses.pop('VANISHED', []) == [known[3]], C.untagged_responses
assert 'EXPUNGE' not in C.untagged_responses
C.logout()
A.logout(); B.logout()
print('consistent')
