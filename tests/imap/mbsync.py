# mbsync (isync) syncing a 5,000-message account both ways against imapd.
# argv: imaps-port password cert.pem server-maildir workdir
# Sync down, change flags / delete / add on both sides, sync again, then compare both sides
# by Message-ID and flags: nothing lost, nothing duplicated, every change on both sides.
import imaplib, os, re, ssl, subprocess, sys, time

port, password, cert, server_md, work = sys.argv[1:6]
N = 5000
local = os.path.join(work, "local")
os.makedirs(local, exist_ok=True)


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def message(i, subject="sync test"):
    return (f"From: sender{i % 7}@example.org\r\nTo: demo@example.org\r\n"
            f"Subject: {subject} {i}\r\nMessage-ID: <{i}@sync.test>\r\n"
            f"Date: Mon, 1 Jan 2024 00:00:00 +0000\r\n\r\n"
            + f"body line of message {i}\r\n" * 20).encode()


# The account: written straight into the server's maildir (as a delivery would).
for sub in ("new", "cur", "tmp"):
    os.makedirs(os.path.join(server_md, sub), exist_ok=True)
for i in range(N):
    with open(os.path.join(server_md, "new", f"1700000000.M{i}P1.synctest"), "wb") as f:
        f.write(message(i))

rc = os.path.join(work, "mbsyncrc")
with open(rc, "w") as f:
    f.write(f"""IMAPAccount postern
Host 127.0.0.1
Port {port}
User demo
Pass {password}
SSLType IMAPS
CertificateFile {cert}
PipelineDepth 50

IMAPStore far
Account postern

MaildirStore near
Path {local}/
Inbox {local}/INBOX
SubFolders Verbatim

Channel sync
Far :far:
Near :near:
Patterns INBOX
Create Both
Expunge Both
SyncState *
Sync All
""")


def mbsync(step):
    t = time.time()
    r = subprocess.run(["mbsync", "-c", rc, "-a"], capture_output=True, text=True, timeout=600)
    print(f"mbsync {step}: rc={r.returncode} {time.time() - t:.1f}s {r.stdout.strip()[-300:]} {r.stderr.strip()[-600:]}")
    if r.returncode != 0:
        fail(f"mbsync {step} failed")


MID = re.compile(rb"^Message-ID:\s*<(\d+)@sync\.test>", re.I | re.M)


def local_side():
    """Message-ID number -> set of maildir flag letters, and the list of all ids (dups)."""
    seen, all_ids = {}, []
    for sub in ("new", "cur"):
        d = os.path.join(local, "INBOX", sub)
        for name in os.listdir(d):
            with open(os.path.join(d, name), "rb") as f:
                m = MID.search(f.read(4096))
            if not m:
                fail(f"local file without Message-ID: {name}")
            n = int(m.group(1))
            all_ids.append(n)
            flags = name.split(":2,", 1)[1] if ":2," in name else ""
            seen[n] = (set(flags), os.path.join(d, name))
    return seen, all_ids


def imap():
    ctx = ssl.create_default_context(cafile=cert)
    ctx.check_hostname = False
    c = imaplib.IMAP4_SSL("127.0.0.1", int(port), ssl_context=ctx)
    c.login("demo", password)
    return c


FLAG = re.compile(rb"FLAGS \(([^)]*)\)")
UID = re.compile(rb"UID (\d+)")


def server_side(c):
    """Message-ID number -> (set of IMAP flags, UID), and the list of all ids (dups)."""
    typ, data = c.select("INBOX")
    if typ != "OK":
        fail(f"select {data}")
    count = int(data[0])
    out, all_ids = {}, []
    if count == 0:
        return out, all_ids
    typ, data = c.uid("FETCH", "1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
    for item in data:
        if not isinstance(item, tuple):
            continue
        m = MID.search(item[1])
        if not m:
            fail(f"server message without Message-ID: {item}")
        n = int(m.group(1))
        all_ids.append(n)
        flags = set(FLAG.search(item[0]).group(1).decode().split())
        out[n] = (flags, int(UID.search(item[0]).group(1)))
    if len(all_ids) != count:
        fail(f"server FETCH returned {len(all_ids)} of {count} messages")
    return out, all_ids


# 1. First sync: everything comes down.
mbsync("down")
near, near_all = local_side()
if len(near_all) != N or set(near) != set(range(N)):
    fail(f"after first sync the local side has {len(near_all)} messages, {len(set(near))} distinct")
c = imap()
far, far_all = server_side(c)
if len(far_all) != N:
    fail(f"server has {len(far_all)} messages after the first sync")
print(f"first sync: {N} messages on both sides")

# 2. Changes on the server: flag 0..99, delete 100..149, add one message.
flagged_far = range(0, 100)
deleted_far = range(100, 150)
uids = lambda ns: ",".join(str(far[n][1]) for n in ns)
c.uid("STORE", uids(flagged_far), "+FLAGS.SILENT", "(\\Flagged)")
c.uid("STORE", uids(deleted_far), "+FLAGS.SILENT", "(\\Deleted)")
typ, _ = c.expunge()
if typ != "OK":
    fail("expunge")
typ, _ = c.append("INBOX", "(\\Answered)", None, message(N, "added on the server"))
if typ != "OK":
    fail("append")
c.logout()

# Changes on the local side: seen 200..299, delete 300..349, trash 350..359, add one message.
seen_near = range(200, 300)
deleted_near = range(300, 350)
trashed_near = range(350, 360)
for n in seen_near:
    flags, path = near[n]
    base = path.split(":2,")[0]
    os.rename(path, base.replace("/new/", "/cur/") + ":2," + "".join(sorted(flags | {"S"})))
for n in deleted_near:
    os.unlink(near[n][1])
for n in trashed_near:
    flags, path = near[n]
    base = path.split(":2,")[0]
    os.rename(path, base.replace("/new/", "/cur/") + ":2," + "".join(sorted(flags | {"T"})))
with open(os.path.join(local, "INBOX", "new", f"{int(time.time())}.local1.host"), "wb") as f:
    f.write(message(N + 1, "added locally"))

# 3. Second sync, then a third that must change nothing.
mbsync("both ways")
mbsync("again")

# 4. Compare.
gone = set(deleted_far) | set(deleted_near) | set(trashed_near)
expected = (set(range(N)) - gone) | {N, N + 1}
near, near_all = local_side()
c = imap()
far, far_all = server_side(c)
c.logout()
for side, ids, allv in (("local", near, near_all), ("server", far, far_all)):
    if len(allv) != len(set(allv)):
        fail(f"{side} has duplicates: {len(allv)} files, {len(set(allv))} distinct")
    if set(ids) != expected:
        missing = sorted(expected - set(ids))[:10]
        extra = sorted(set(ids) - expected)[:10]
        fail(f"{side}: {len(ids)} messages, expected {len(expected)}; missing {missing} extra {extra}")

to_imap = {"F": "\\Flagged", "S": "\\Seen", "R": "\\Answered", "D": "\\Draft", "T": "\\Deleted"}
for n in expected:
    want = set()
    if n in flagged_far:
        want.add("\\Flagged")
    if n in seen_near:
        want.add("\\Seen")
    if n == N:
        want.add("\\Answered")
    local_flags = {to_imap[f] for f in near[n][0] if f in to_imap}
    server_flags = far[n][0] - {"\\Recent"}
    if local_flags != want or server_flags != want:
        fail(f"message {n}: local {sorted(local_flags)} server {sorted(server_flags)} want {sorted(want)}")
print(f"in sync: {len(expected)} messages on both sides, flags equal, no duplicates")
