# A pipelined transaction to a local user: every reply in order, then the message is queued.
S: 220 
C: EHLO client.test
C: MAIL FROM:<someone@example.net> SIZE=100
C: RCPT TO:<demo@example.test>
C: DATA
S* 250 HELP
S: 250 2.1.0
S: 250 2.1.5
S: 354 
C: Subject: transcript
C:
C: body
C: .
S: 250 2.0.0 Ok: queued as 
C: QUIT
S: 221 
