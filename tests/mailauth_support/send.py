"""Send a message file over SMTP with smtplib; print the DATA (or first refusing) reply.
Usage: send.py PORT FROM TO FILE"""
import smtplib
import sys

port, sender, rcpt, path = sys.argv[1:5]
msg = open(path, "rb").read()
s = smtplib.SMTP("127.0.0.1", int(port), timeout=60)
s.ehlo("client.example")
code, reply = s.mail(sender)
if code == 250:
    code, reply = s.rcpt(rcpt)
if code == 250:
    code, reply = s.data(msg)
print(code, reply.decode(errors="replace").replace("\n", " "))
try:
    s.quit()
except Exception:
    pass
