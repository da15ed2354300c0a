# Commands out of order are refused with 503 and an enhanced code; the session goes on.
S: 220 
C: RCPT TO:<demo@example.test>
S: 503 5.5.1
C: MAIL FROM:<a@example.net>
S: 503 5.5.1 Send HELO/EHLO first
C: HELO client.test
S: 250 
C: DATA
S: 503 5.5.1 Need MAIL command
C: NOOP
S: 250 2.0.0
