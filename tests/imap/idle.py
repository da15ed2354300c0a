# IDLE on INBOX over implicit TLS; a message sent through smtpd must show up as EXISTS.
# Args: imaps-port smtp-port password
import imaplib, smtplib, ssl, sys, time, socket
port, smtp_port, pw = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
M = imaplib.IMAP4_SSL('127.0.0.1', port, ssl_context=ctx)
M.login('demo', pw)
typ, data = M.select('INBOX'); before = int(data[0])
M.send(b'I1 IDLE\r\n')
line = M.readline(); assert line.startswith(b'+'), line
s = smtplib.SMTP('127.0.0.1', smtp_port)
s.sendmail('someone@example.org', ['demo@example.test'],
           b'From: someone@example.org\r\nTo: demo@example.test\r\nSubject: idle test\r\n\r\nhi\r\n')
s.quit()
sent = time.time()
M.sock.settimeout(30)
line = M.readline()
elapsed = time.time() - sent
assert line == f'* {before + 1} EXISTS\r\n'.encode(), line
line = M.readline(); assert line == b'* 1 RECENT\r\n', line
M.send(b'DONE\r\n')
line = M.readline(); assert line.startswith(b'I1 OK'), line
typ, data = M.fetch(str(before + 1), '(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])')
assert b'Subject: idle test' in data[0][1], data
assert b'\\Recent' in data[0][0], data
M.logout()
print(f'EXISTS after {elapsed:.3f}s')
