"""The MTA-STS policy hosts: HTTPS on 127.0.0.1:PORT with CERT/KEY, answering
GET /.well-known/mta-sts.txt with ROOT/<Host>/mta-sts.txt (text/plain), 404 otherwise.

usage: sts_https.py PORT ROOT CERT KEY
"""
import http.server, os, ssl, sys

port, root, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        host = (self.headers.get("Host") or "").split(":")[0].lower()
        path = os.path.join(root, host, "mta-sts.txt")
        if self.path != "/.well-known/mta-sts.txt" or "/" in host or not os.path.isfile(path):
            self.send_error(404)
            return
        with open(path, "rb") as f:
            body = f.read()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
srv.serve_forever()
