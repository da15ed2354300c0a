# imapd keeps a consistent view while popd (poplib, DELE + QUIT) deletes from the selected INBOX.
# Args: imaps-port password. Protocol with the test on stdin/stdout: prints "selected",
# waits for a line "deleted" (the POP3 side removed message 1), then checks the updates.
import imaplib, ssl, sys, re
port, pw = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
M = imaplib.IMAP4_SSL('127.0.0.1', port, ssl_context=ctx)
M.login('demo', pw)
for i in range(3):
    assert M.append('INBOX', None, None, f'Subject: pop{i}\r\n\r\nbody {i}\r\n'.encode())[0] == 'OK'
assert M.select('INBOX')[1] == [b'3']
uids = M.uid('SEARCH', 'ALL')[1][0].split()
assert len(uids) == 3, uids
print('selected', flush=True)
assert sys.stdin.readline().strip() == 'deleted'

# The popped message is gone from disk but still message 1 of this session: a FETCH of the
# others works, and no EXPUNGE may arrive during FETCH (RFC 3501 7.4.1).
typ, data = M.fetch('2:3', '(UID BODY.PEEK[TEXT])')
assert typ == 'OK', data
texts = [d[1] for d in data if isinstance(d, tuple)]
assert texts == [b'body 1\r\n', b'body 2\r\n'], texts
assert 'EXPUNGE' not in M.untagged_responses, M.untagged_responses
# Fetching the popped one itself: a tagged NO (or OK without data), the session stays usable.
try:
    typ, data = M.fetch('1', '(BODY.PEEK[])')
    print('fetch of the popped message:', typ, data)
except imaplib.IMAP4.error as e:
    print('fetch of the popped message: NO', e)
M.noop()
assert M.untagged_responses.pop('EXPUNGE', []) == [b'1'], M.untagged_responses
assert M.uid('SEARCH', 'ALL')[1][0].split() == uids[1:]
typ, data = M.fetch('1', '(BODY.PEEK[TEXT])')
assert typ == 'OK' and data[0][1] == b'body 1\r\n', data
assert M.status('INBOX', '(MESSAGES)')[1][0].endswith(b'(MESSAGES 2)')
M.logout()
print('consistent after pop3 delete')
