# imaplib (and smtplib) against postern for tests/imap_store.rs. Args: MODE ...
#   quota IMAPS-PORT SMTP-PORT PASSWORD      the quota on APPEND, COPY, MOVE and RCPT with SIZE=
#   move PORT PASSWORD FROM TO               UID MOVE 1:* FROM -> TO; prints what happened (the
#                                            server may be killed under it)
#   state PORT PASSWORD                      a fresh login: per mailbox STATUS and (uid, marker)
#   full PORT PASSWORD                       login on a full mail volume (tests/imap_store.rs)
import imaplib, json, re, smtplib, ssl, sys

for c in ('MOVE', 'UNSELECT'):
    imaplib.Commands.setdefault(c, ('AUTH', 'SELECTED'))
mode = sys.argv[1]


def tls(port):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return imaplib.IMAP4_SSL('127.0.0.1', port, ssl_context=ctx)


def message(size, n):
    head = f'From: a@example.org\r\nSubject: quota {n}\r\nMessage-ID: <q{n}@store.test>\r\n\r\n'
    line = 'x' * 76 + '\r\n'
    body = line * ((size - len(head)) // len(line))
    return (head + body).encode()


def status(M, box):
    typ, data = M.status(box, '(MESSAGES)')
    assert typ == 'OK', (box, typ, data)
    return int(re.search(rb'MESSAGES (\d+)', data[0]).group(1))


if mode == 'quota':
    port, smtp_port, pw = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    M = tls(port)
    M.login('demo', pw)
    # 5 MB against a 1 MB quota: refused before the data (no continuation), session usable.
    typ, data = M.append('INBOX', None, None, message(5 * 1024 * 1024, 0))
    assert typ == 'NO' and data[0].startswith(b'[OVERQUOTA]'), (typ, data)
    for n in range(1, 4):
        typ, data = M.append('INBOX', None, None, message(300 * 1024, n))
        assert typ == 'OK', (n, typ, data)
    typ, data = M.append('INBOX', None, None, message(300 * 1024, 4))
    assert typ == 'NO' and data[0].startswith(b'[OVERQUOTA]'), (typ, data)
    assert status(M, 'INBOX') == 3
    # COPY of the whole INBOX: refused whole, nothing copied; three times over.
    M.select('INBOX')
    for _ in range(3):
        typ, data = M.copy('1:*', 'Archive')
        assert typ == 'NO' and data[0].startswith(b'[OVERQUOTA]'), (typ, data)
    assert status(M, 'Archive') == 0
    # A MOVE adds nothing: allowed at the quota.
    typ, data = M.uid('MOVE', '1', 'Archive')
    assert typ == 'OK', (typ, data)
    assert status(M, 'Archive') == 1 and status(M, 'INBOX') == 2
    M.logout()
    # SMTP agrees: a 300 KB message declared with SIZE= is refused at RCPT for the quota.
    s = smtplib.SMTP('127.0.0.1', smtp_port, timeout=30)
    s.ehlo('client.test')
    code, _ = s.mail('a@example.org', ['SIZE=307200'])
    assert code == 250, code
    code, text = s.rcpt('demo@example.test')
    assert code == 452 and text.startswith(b'4.2.2'), (code, text)
    s.quit()
    print('quota ok')

elif mode == 'move':
    port, pw, src, dst = int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
    M = imaplib.IMAP4('127.0.0.1', port)
    M.login('demo', pw)
    typ, data = M.select(src)
    assert typ == 'OK', (typ, data)
    print('selected', int(data[0]), flush=True)
    try:
        typ, data = M.uid('MOVE', '1:*', dst)
        print('moved', typ, flush=True)
    except (imaplib.IMAP4.abort, OSError) as e:
        print('killed', type(e).__name__, flush=True)

elif mode == 'state':
    port, pw = int(sys.argv[2]), sys.argv[3]
    M = imaplib.IMAP4('127.0.0.1', port)
    M.login('demo', pw)
    out = {}
    for box in ('INBOX', 'Archive'):
        typ, data = M.status(box, '(MESSAGES UIDNEXT)')
        assert typ == 'OK', (typ, data)
        messages = int(re.search(rb'MESSAGES (\d+)', data[0]).group(1))
        uidnext = int(re.search(rb'UIDNEXT (\d+)', data[0]).group(1))
        typ, data = M.select(box, readonly=True)
        assert typ == 'OK' and int(data[0]) == messages, (box, typ, data, messages)
        seen = []
        if messages:
            typ, data = M.uid('FETCH', '1:*', '(UID BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])')
            assert typ == 'OK', (typ, data)
            for item in data:
                if not isinstance(item, tuple):
                    continue
                uid = int(re.search(rb'UID (\d+)', item[0]).group(1))
                mid = re.search(rb'<([^>]+)>', item[1]).group(1).decode()
                assert uid < uidnext, (box, uid, uidnext)
                seen.append([uid, mid])
        out[box] = {'messages': messages, 'uidnext': uidnext, 'seen': seen}
        M.unselect() if 'UNSELECT' in M.capabilities else M.close()
    M.logout()
    print(json.dumps(out))

elif mode == 'full':
    port, pw = int(sys.argv[2]), sys.argv[3]
    M = imaplib.IMAP4('127.0.0.1', port)
    typ, data = M.login('demo', pw)
    assert typ == 'OK', (typ, data)
    # The default folders could not be made: a warning, not a failed login.
    warnings = M.untagged_responses.get('NO', [])
    assert any(w.startswith(b'[UNAVAILABLE]') for w in warnings), warnings
    typ, data = M.select('INBOX')
    assert typ == 'OK' and int(data[0]) == 3, (typ, data)
    typ, data = M.fetch('1', '(BODY.PEEK[HEADER.FIELDS (SUBJECT)])')
    assert typ == 'OK' and b'Subject: before0@full.test' in data[0][1], (typ, data)
    # What needs space says so: UNAVAILABLE, not SERVERBUG.
    typ, data = M.create('Projects')
    assert typ == 'NO' and data[0].startswith(b'[UNAVAILABLE]'), (typ, data)
    typ, data = M.append('INBOX', None, None, b'Subject: x\r\n\r\n' + b'y' * 200000)
    assert typ == 'NO' and data[0].startswith(b'[UNAVAILABLE]'), (typ, data)
    typ, data = M.store('1', '+FLAGS', '\\Seen')
    assert typ == 'OK', (typ, data)
    M.logout()
    print('full ok')
