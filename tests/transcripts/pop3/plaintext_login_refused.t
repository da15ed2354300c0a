# USER/PASS needs TLS by default: refused in the clear, CAPA says so by leaving USER out.
S: +OK 
C: CAPA
S: +OK 
S* .
C: USER demo
S: -ERR 
C: QUIT
S: +OK 
