"""An SMTP tarpit on 127.0.0.1:PORT that holds every connection it accepts without an answer:
MODE "silent" never sends a greeting; MODE "mute-ehlo" greets, then never answers EHLO (or
anything after it). DIR/accepted counts the connections.

    tarpit_peer.py PORT MODE DIR
PORT 0 lets the kernel choose; once listening it prints "ready PORT". Bounded: it exits after
120 seconds.
"""
import os
import socket
import sys
import threading
import time

port, mode, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
os.makedirs(out, exist_ok=True)
held = []


srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port))
srv.listen(64)
print("ready", srv.getsockname()[1], flush=True)


def serve():
    while True:
        conn, _ = srv.accept()
        held.append(conn)
        with open(os.path.join(out, "accepted.tmp"), "w") as f:
            f.write(str(len(held)))
        os.replace(os.path.join(out, "accepted.tmp"), os.path.join(out, "accepted"))
        if mode == "mute-ehlo":
            conn.sendall(b"220 tarpit ESMTP\r\n")


threading.Thread(target=serve, daemon=True).start()
time.sleep(120)
