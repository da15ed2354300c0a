"""An SMTP peer (aiosmtpd) that appends every message it gets to a file.

argv: port file. Each message is written as "MAIL FROM:<…> RCPT TO:<…>" then the message,
then a line "=====".
"""
import sys
import time

from aiosmtpd.controller import Controller


class Save:
    async def handle_DATA(self, server, session, envelope):
        with open(sys.argv[2], "ab") as f:
            f.write(b"MAIL FROM:<%s> RCPT TO:<%s>\n" % (
                envelope.mail_from.encode(), ",".join(envelope.rcpt_tos).encode()))
            f.write(envelope.original_content or b"")
            f.write(b"\n=====\n")
        return "250 OK saved"


controller = Controller(Save(), hostname="127.0.0.1", port=int(sys.argv[1]))
controller.start()
while True:
    time.sleep(1)
