# Unknown and out-of-state commands get -ERR and the session goes on.
S: +OK 
C: STAT
S: -ERR 
C: FROB
S: -ERR 
C: NOOP
S: -ERR 
C: QUIT
S: +OK 
