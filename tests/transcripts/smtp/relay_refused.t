# An untrusted client may not relay: the recipient is refused, the session goes on.
S: 220 mail.example.test ESMTP
C: EHLO client.test
S* 250 HELP
C: MAIL FROM:<someone@example.net>
S: 250 2.1.0
C: RCPT TO:<victim@elsewhere.test>
S: 554 5.7.1 <victim@elsewhere.test>: Relay access denied
C: QUIT
S: 221 2.0.0
