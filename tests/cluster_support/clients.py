#!/usr/bin/python3
"""Real mail clients (smtplib, imaplib, poplib) spread over the hosts of a cluster test.

  clients.py send HOSTS COUNT PREFIX RCPT ACKED_FILE [TO]   SMTP deliveries round-robin over
      HOSTS (comma-separated addresses, port 2525); a refused or failed try goes to the next host
      (3 tries a message). Each message carries `X-Token: PREFIX-N` (and `To: TO`, RCPT by
      default); the tokens of acknowledged messages (250 after DATA) are appended to ACKED_FILE,
      one a line, as soon as acknowledged.
  clients.py expunge A B USER PASS        POP3 DELE on B seen by IMAP on A at its next command
  clients.py idle A B USER PASS [smtp]    IDLE on A told of an APPEND made on B (or, with smtp, of
                                          a message delivered through B's SMTP): prints seconds
  clients.py uids HOSTS USER PASS N       N APPENDs on every host at once, then every host's
                                          UIDVALIDITY and UID list: prints one JSON line
  clients.py quota H1 H2 H3 USER MAILDIR  USER's quota (set by the caller) counted across hosts:
      a message through H1, a RCPT with SIZE= on H3, a message through H2 (waited for in
      MAILDIR), the same RCPT on H3 again: prints the replies as JSON
  clients.py policy H1 H2 H3 RCPT DELAY   greylisting and a per-address rate limit across hosts,
      from the untrusted addresses 10.209.0.200 and .201: prints the replies as JSON
Every socket has a timeout; every loop is bounded."""
import imaplib, json, poplib, smtplib, socket, sys, threading, time

SMTP, IMAP, POP3 = 2525, 2143, 2110
socket.setdefaulttimeout(60)

def send(hosts, count, prefix, rcpt, acked_file, to=None):
    hosts = hosts.split(",")
    out = open(acked_file, "a")
    refused = 0
    down_until = {}
    for n in range(int(count)):
        token = "%s-%d" % (prefix, n)
        msg = ("From: load@client.test\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: <%s@client.test>\r\n"
               "X-Token: %s\r\n\r\nbody of %s\r\n" % (to or rcpt, token, token, token, token))
        # A host that failed is passed over for 10 s, as an MTA's host cache would (a dead
        # host costs a connect timeout each time).
        order = [hosts[(n + k) % len(hosts)] for k in range(len(hosts))]
        order.sort(key=lambda h: down_until.get(h, 0) > time.time())
        for attempt in range(3):
            host = order[attempt % len(order)]
            try:
                with smtplib.SMTP(host, SMTP, timeout=30) as s:
                    s.sendmail("load@client.test", [rcpt], msg)
                out.write(token + "\n"); out.flush()
                break
            except (OSError, smtplib.SMTPException) as e:
                refused += 1
                down_until[host] = time.time() + 10
                print("try %s on %s: %s" % (token, host, e), file=sys.stderr, flush=True)
                time.sleep(0.2)
    print(json.dumps({"refused_tries": refused}))

def imap_login(host, user, pw):
    m = imaplib.IMAP4(host, IMAP, timeout=30)
    m.login(user, pw)
    return m

def expunge(a, b, user, pw):
    m = imap_login(a, user, pw)
    typ, data = m.select("INBOX")
    before = int(data[0])
    p = poplib.POP3(b, POP3, timeout=30)
    p.user(user); p.pass_(pw)
    count, _ = p.stat()
    p.dele(1)
    p.quit()
    typ, data = m.noop()
    # imaplib keeps untagged responses: EXPUNGE and EXISTS seen at this NOOP.
    expunged = m.untagged_responses.pop("EXPUNGE", [])
    typ, data = m.select("INBOX")
    after = int(data[0])
    m.logout()
    print(json.dumps({"imap_before": before, "pop3_count": count, "expunged_at_noop": [x.decode() for x in expunged],
                      "imap_after": after}))

def idle(a, b, user, pw, how="append"):
    m = imap_login(a, user, pw)
    typ, data = m.select("INBOX")
    exists = int(data[0])
    tag = m._new_tag()
    m.send(tag + b" IDLE\r\n")
    line = m.readline()
    assert line.startswith(b"+"), line
    t0 = time.time()
    if how == "smtp":
        with smtplib.SMTP(b, SMTP, timeout=30) as s:
            s.sendmail("b@client.test", ["%s@cluster.test" % user], "Subject: delivered by B\r\n\r\nhello\r\n")
    else:
        other = imap_login(b, user, pw)
        other.append("INBOX", None, None, b"From: b@client.test\r\nSubject: appended on B\r\n\r\nhello\r\n")
        other.logout()
    t_append = time.time() - t0
    m.sock.settimeout(20)
    seen = None
    deadline = time.time() + 20
    while time.time() < deadline:
        line = m.readline()
        if not line:
            break
        if line.startswith(b"* ") and line.rstrip().endswith(b"EXISTS") and int(line.split()[1]) > exists:
            seen = time.time() - t0
            break
    m.send(b"DONE\r\n")
    m.sock.settimeout(30)
    m.readline()
    print(json.dumps({"append_seconds": t_append, "idle_told_after": seen}))

def uids(hosts, user, pw, n):
    hosts = hosts.split(","); n = int(n)
    errors = []
    def appender(h, k):
        try:
            m = imap_login(h, user, pw)
            for i in range(n):
                m.append("INBOX", None, None, ("From: x@client.test\r\nSubject: %s-%d-%d\r\n\r\nx\r\n" % (h, k, i)).encode())
            m.logout()
        except Exception as e:  # noqa: BLE001 (reported, the caller asserts)
            errors.append("%s: %r" % (h, e))
    ts = [threading.Thread(target=appender, args=(h, k)) for k, h in enumerate(hosts)]
    [t.start() for t in ts]; [t.join(120) for t in ts]
    views = {}
    for h in hosts:
        m = imap_login(h, user, pw)
        typ, data = m.select("INBOX")
        uv = m.untagged_responses.get("UIDVALIDITY", [b"?"])[0].decode()
        typ, data = m.uid("SEARCH", "ALL")
        views[h] = {"uidvalidity": uv, "uids": [int(x) for x in data[0].split()]}
        m.logout()
    print(json.dumps({"errors": errors, "views": views}))

def transaction(host, sender, rcpt, msg=None, size=None, source=None):
    """One SMTP transaction: MAIL (with SIZE= when given), RCPT, and DATA when msg is given (else
    RSET). Returns [code, text] of the first reply that is not 250, or of the last step."""
    s = smtplib.SMTP(host, SMTP, timeout=30, source_address=(source, 0) if source else None)
    try:
        s.ehlo()
        code, text = s.mail(sender, ["SIZE=%d" % size] if size else [])
        if code == 250:
            code, text = s.rcpt(rcpt)
        if code == 250 and msg is not None:
            code, text = s.data(msg)
        else:
            s.rset()
        return [code, text.decode(errors="replace")]
    finally:
        try:
            s.quit()
        except (OSError, smtplib.SMTPException):
            pass

def quota(h1, h2, h3, user, maildir):
    import os
    rcpt = "%s@cluster.test" % user
    body = "From: q@client.test\r\nSubject: quota\r\n\r\n" + ("q" * 70 + "\r\n") * 12
    out = {"h1_message": transaction(h1, "q@client.test", rcpt, body)}
    out["h3_rcpt_before"] = transaction(h3, "q@client.test", rcpt, size=1000)
    out["h2_message"] = transaction(h2, "q@client.test", rcpt, body)
    deadline = time.time() + 60
    count = lambda: sum(len(os.listdir(os.path.join(maildir, d))) for d in ("new", "cur"))
    while count() < 2 and time.time() < deadline:
        time.sleep(0.2)
    out["in_maildir"] = count()
    out["h3_rcpt_after"] = transaction(h3, "q@client.test", rcpt, size=1000)
    print(json.dumps(out))

def policy(h1, h2, h3, rcpt, delay):
    msg = "From: grey@client.test\r\nSubject: grey\r\n\r\nhello\r\n"
    grey = lambda h: transaction(h, "grey@client.test", rcpt, msg, source="10.209.0.200")
    out = {"grey_h1_first": grey(h1)}
    t0 = time.time()
    out["grey_h2_before_delay"] = grey(h2)
    out["grey_h2_before_delay_after_s"] = round(time.time() - t0, 2)
    time.sleep(float(delay) + 1)
    out["grey_h3_after_delay"] = grey(h3)
    # The triplet (its /24, sender, recipient) has passed: the rate limit alone counts now.
    rate = lambda h: transaction(h, "grey@client.test", rcpt, msg, source="10.209.0.201")
    out["rate"] = [rate(h) for h in (h1, h2, h3, h1, h2)]
    print(json.dumps(out))

cmd = sys.argv[1]
{"send": send, "expunge": expunge, "idle": idle, "uids": uids, "quota": quota,
 "policy": policy}[cmd](*sys.argv[2:])
