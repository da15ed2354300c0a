#!/usr/bin/python3
"""What a shared file system honours across two mounts (two clients of one volume).

    probe.py MOUNT_A MOUNT_B   -> one line per property: NAME yes|no DETAIL

Each lock probe holds a lock through mount A in a child process and tries to take it through
mount B; yes means B was refused while A held it (the lock crosses clients)."""
import fcntl, os, struct, sys, time, multiprocessing as mp

a, b = sys.argv[1], sys.argv[2]
d = "probe.%d" % os.getpid()
os.mkdir(os.path.join(a, d))
A = lambda n: os.path.join(a, d, n)
B = lambda n: os.path.join(b, d, n)
out = []

def report(name, ok, detail=""):
    out.append((name, ok))
    print("%-28s %-3s %s" % (name, "yes" if ok else "no", detail), flush=True)

def holder(path, kind, ready, release):
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    if kind == "flock":
        fcntl.flock(fd, fcntl.LOCK_EX)
    elif kind == "posix":
        fcntl.lockf(fd, fcntl.LOCK_EX)
    elif kind == "ofd":
        fcntl.fcntl(fd, 37, struct.pack("hhqqi", fcntl.F_WRLCK, 0, 0, 0, 0))  # F_OFD_SETLK
    ready.set()
    release.wait(20)

def try_lock(path, kind):
    fd = os.open(path, os.O_RDWR)
    try:
        if kind == "flock":
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        elif kind == "posix":
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        elif kind == "ofd":
            fcntl.fcntl(fd, 37, struct.pack("hhqqi", fcntl.F_WRLCK, 0, 0, 0, 0))
        return True
    except OSError:
        return False
    finally:
        os.close(fd)

for kind in ("flock", "posix", "ofd"):
    p = A("lock-" + kind)
    ready, release = mp.Event(), mp.Event()
    h = mp.Process(target=holder, args=(p, kind, ready, release))
    h.start()
    ready.wait(10)
    time.sleep(0.2)
    got_while_held = try_lock(B("lock-" + kind), kind)
    release.set()
    h.join(10)
    got_after = try_lock(B("lock-" + kind), kind)
    report(kind + " across mounts", (not got_while_held) and got_after,
           "held-elsewhere-refused=%s free-after-release=%s" % (not got_while_held, got_after))
    # A lock holder killed (-9): is the lock released?
    ready, release = mp.Event(), mp.Event()
    h = mp.Process(target=holder, args=(p, kind, ready, release))
    h.start(); ready.wait(10); time.sleep(0.2)
    os.kill(h.pid, 9); h.join(10)
    t0 = time.time(); ok = False
    while time.time() - t0 < 10:
        if try_lock(B("lock-" + kind), kind):
            ok = True; break
        time.sleep(0.1)
    report(kind + " freed on kill", ok, "after %.2fs" % (time.time() - t0))

# O_EXCL: created through A, exclusive create through B must fail.
fd = os.open(A("excl"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600); os.close(fd)
try:
    os.close(os.open(B("excl"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)); excl = False
except FileExistsError:
    excl = True
report("O_EXCL across mounts", excl)

# Racing O_EXCL creates from both mounts: exactly one wins each round.
def racer(base, n, q):
    wins = 0
    for k in range(n):
        try:
            os.close(os.open(os.path.join(base, d, "race%d" % k), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)); wins += 1
        except FileExistsError:
            pass
    q.put(wins)
q = mp.Queue(); n = 200
ps = [mp.Process(target=racer, args=(m, n, q)) for m in (a, b)]
[p.start() for p in ps]; [p.join(60) for p in ps]
w = q.get(timeout=5) + q.get(timeout=5)
report("O_EXCL race exactly-once", w == n, "%d winners for %d names" % (w, n))

# link(2) as a claim: link to an existing name fails with EEXIST through the other mount.
open(A("src1"), "w").close(); open(A("src2"), "w").close()
os.link(A("src1"), A("claim"))
try:
    os.link(B("src2"), B("claim")); ln = False
except FileExistsError:
    ln = True
report("link EEXIST across mounts", ln)

# rename atomicity: a reader on B never sees the name missing or half-written while A replaces it.
with open(A("target"), "w") as f: f.write("v0" * 1000)
def replacer(n):
    for k in range(n):
        t = A("target.tmp")
        with open(t, "w") as f: f.write(("v%d" % (k % 10)) * 1000)
        os.rename(t, A("target"))
r = mp.Process(target=replacer, args=(300,)); r.start()
bad = 0; reads = 0; errs = {}
while r.is_alive():
    try:
        s = open(B("target")).read(); reads += 1
        if len(s) not in (2000,): bad += 1
    except OSError as e:
        bad += 1; errs[e.strerror] = errs.get(e.strerror, 0) + 1
r.join()
report("rename atomic to readers", bad == 0, "%d bad of %d reads %s" % (bad, reads, errs or ""))

# rename of one source by two mounts at once: exactly one succeeds (a rename claim).
wins = 0; rounds = 100
def renamer(m, k, q):
    try:
        os.rename(os.path.join(m, d, "r%d" % k), os.path.join(m, d, "r%d.%s" % (k, "A" if m == a else "B"))); q.put(1)
    except FileNotFoundError:
        q.put(0)
for k in range(rounds):
    open(A("r%d" % k), "w").close()
q = mp.Queue()
def renamers(m, q):
    for k in range(rounds): renamer(m, k, q)
ps = [mp.Process(target=renamers, args=(m, q)) for m in (a, b)]
[p.start() for p in ps]; [p.join(60) for p in ps]
wins = sum(q.get(timeout=5) for _ in range(2 * rounds))
both = sum(1 for k in range(rounds) if os.path.exists(A("r%d.A" % k)) and os.path.exists(A("r%d.B" % k)))
report("rename claim exactly-once", wins == rounds and both == 0, "%d wins for %d sources, %d doubled" % (wins, rounds, both))

# fsync succeeds (the replicated write is acknowledged by the bricks).
fd = os.open(A("sync"), os.O_WRONLY | os.O_CREAT, 0o600); os.write(fd, b"x"); os.fsync(fd); os.close(fd)
dfd = os.open(os.path.join(a, d), os.O_RDONLY); os.fsync(dfd); os.close(dfd)
report("fsync file and directory", True)

# Directory mtime and a new entry seen through B: after how long?
sub_a, sub_b = A("dir"), B("dir")
os.mkdir(sub_a)
time.sleep(1.1)
m0 = os.stat(sub_b).st_mtime_ns
os.listdir(sub_b)
open(os.path.join(sub_a, "new"), "w").close()
t0 = time.time(); seen_m = seen_e = None
while time.time() - t0 < 10 and (seen_m is None or seen_e is None):
    if seen_m is None and os.stat(sub_b).st_mtime_ns != m0: seen_m = time.time() - t0
    if seen_e is None and "new" in os.listdir(sub_b): seen_e = time.time() - t0
    time.sleep(0.01)
report("dir mtime change seen", seen_m is not None, "after %s s" % ("%.3f" % seen_m if seen_m is not None else ">10"))
report("new entry seen in listing", seen_e is not None, "after %s s" % ("%.3f" % seen_e if seen_e is not None else ">10"))
# A file's content replaced through A (same size, via rename): stat/read through B.
with open(A("state"), "w") as f: f.write("1")
open(B("state")).read()
with open(A("state.tmp"), "w") as f: f.write("2")
os.rename(A("state.tmp"), A("state"))
t0 = time.time(); seen = None
while time.time() - t0 < 10:
    if open(B("state")).read() == "2": seen = time.time() - t0; break
    time.sleep(0.01)
report("replaced file content seen", seen is not None, "after %s s" % ("%.3f" % seen if seen is not None else ">10"))

# inotify does not cross clients: a watch through B on a directory changed through A.
try:
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    ifd = libc.inotify_init1(os.O_NONBLOCK)
    libc.inotify_add_watch(ifd, sub_b.encode(), 0x100 | 0x80)  # IN_CREATE | IN_MOVED_TO
    open(os.path.join(sub_a, "new2"), "w").close()
    time.sleep(1.0)
    try:
        got = len(os.read(ifd, 4096)) > 0
    except BlockingIOError:
        got = False
    report("inotify crosses mounts", got)
except Exception as e:  # noqa
    report("inotify crosses mounts", False, str(e))

import shutil
shutil.rmtree(os.path.join(a, d), ignore_errors=True)
