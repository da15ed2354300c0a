# PLAIN is offered only after STARTTLS: tried in the clear it is 538, unknown ones 504.
S: 220 
C: EHLO client.test
S* 250 HELP
C: AUTH PLAIN AGRlbW8Ac2VjcmV0
S: 538 5.7.11
C: AUTH X-UNKNOWN
S: 504 5.5.4
C: QUIT
S: 221 
