# IDLE on INBOX over implicit TLS: messages sent through smtpd show up as EXISTS, and a flag
# change and an expunge by a second session as FETCH and EXPUNGE, each within a second of the
# change (the maildir is watched, not polled). Args: imaps-port smtp-port password
import imaplib, smtplib, ssl, sys, time
port, smtp_port, pw = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
M = imaplib.IMAP4_SSL('127.0.0.1', port, ssl_context=ctx)
M.login('demo', pw)
typ, data = M.select('INBOX'); before = int(data[0])
M.send(b'I1 IDLE\r\n')
line = M.readline(); assert line.startswith(b'+'), line
M.sock.settimeout(30)
delays = []
for i in range(3):
    s = smtplib.SMTP('127.0.0.1', smtp_port)
    s.sendmail('someone@example.org', ['demo@example.test'],
               f'From: someone@example.org\r\nTo: demo@example.test\r\nSubject: idle test {i}\r\n\r\nhi\r\n'.encode())
    s.quit()
    sent = time.time()
    line = M.readline()
    delays.append(time.time() - sent)
    assert line == f'* {before + 1 + i} EXISTS\r\n'.encode(), line
    line = M.readline(); assert line == f'* {i + 1} RECENT\r\n'.encode(), line
    time.sleep(0.3)

# Another session changes a flag, then expunges: the idling one hears both.
B = imaplib.IMAP4_SSL('127.0.0.1', port, ssl_context=ctx)
B.login('demo', pw)
B.select('INBOX')
B.store(str(before + 1), '+FLAGS.SILENT', r'(\Flagged)')
changed = time.time()
line = M.readline()
delays.append(time.time() - changed)
assert line.startswith(f'* {before + 1} FETCH (FLAGS ('.encode()) and b'\\Flagged' in line, line
B.store(str(before + 2), '+FLAGS.SILENT', r'(\Deleted)')
line = M.readline(); assert b'\\Deleted' in line, line
B.expunge()
changed = time.time()
line = M.readline()
delays.append(time.time() - changed)
assert line == f'* {before + 2} EXPUNGE\r\n'.encode(), line
B.logout()

M.send(b'DONE\r\n')
line = M.readline(); assert line.startswith(b'I1 OK'), line
typ, data = M.fetch(str(before + 1), '(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])')
assert b'Subject: idle test 0' in data[0][1], data
assert b'\\Recent' in data[0][0], data
M.logout()
print('delays ' + ' '.join(f'{d:.3f}' for d in delays))
print(f'slowest {max(delays):.3f}s')
