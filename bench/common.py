"""Sandboxes, process bookkeeping, clean-up by PID, timing and statistics.

Every process the suite starts runs in a :class:`Sandbox`: a temporary
directory that is also ``$HOME`` and ``$TMPDIR``, and an environment that
carries a marker variable unique to that sandbox.  Daemons, queued tsp/nq
clients and jobs all inherit it, so clean-up finds every one of them by
scanning ``/proc/PID/environ`` and kills them by PID, never by name, even
when the run is interrupted.
"""

import atexit
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TAG_VAR = "GSAT_BENCH_SANDBOX"
_SANDBOXES = []
_counter = [0]
# Where sandboxes go; run.py may change it (--tmpdir).
BASE = [None]
_lock = threading.Lock()
_TRASH = []


def discard(path):
    """Remove the directory ``path`` when the run ends, not now.

    On an ext4 without a journal (this machine's disk: docs/benchmarks.md,
    "A bench that cleans up after itself"), allocating an inode passes
    over, one inode-table look-up each, every inode freed in the last 30 s
    (60 s while its inode-table block is dirty).  Removing a sandbox of
    thousands of files, a 10,000-job store or a virtual environment would
    slow file creation in the figures measured in the next minute: the
    tools would pay for the bench's clean-up.  Renamed aside now (one
    directory entry), removed by :func:`empty_trash`.
    """
    aside = "%s.trash" % path.rstrip("/")
    try:
        os.rename(path, aside)
    except OSError:
        shutil.rmtree(path, ignore_errors=True)
        return
    with _lock:
        _TRASH.append(aside)


@atexit.register
def empty_trash():
    """Remove what :func:`discard` put aside (at the end of every run)."""
    while _TRASH:
        with _lock:
            path = _TRASH.pop() if _TRASH else None
        if path:
            shutil.rmtree(path, ignore_errors=True)


class Interrupted(Exception):
    """Raised in the main thread on SIGINT/SIGTERM/SIGHUP so that finally blocks run."""


def _on_signal(signum, frame):
    raise Interrupted("signal %d" % signum)


def ignore_signals():
    """While cleaning up after an interrupt, a second Ctrl-C must not stop it."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)


def install_signal_handlers():
    # SIGINT too: a shell starts background jobs with SIGINT ignored, and
    # Python then keeps it ignored.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _on_signal)


def read(path, default=""):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return default


def proc_stat(pid):
    """Fields of /proc/PID/stat after the command name, or None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            data = f.read()
    except OSError:
        return None
    return data[data.rfind(")") + 2:].split()


def alive(pid):
    fields = proc_stat(pid)
    # A zombie has finished; here PID 1 may never reap it.
    return fields is not None and fields[0] not in ("Z", "X")


def all_pids():
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def environ(pid):
    try:
        with open("/proc/%d/environ" % pid, "rb") as f:
            return f.read().split(b"\0")
    except OSError:
        return []


def tagged_pids(markers, pids=None):
    """Live processes whose environment holds one of ``markers`` (bytes)."""
    found = []
    for pid in all_pids() if pids is None else pids:
        if pid == os.getpid():
            continue
        env = environ(pid)
        if any(m in env for m in markers) and alive(pid):
            found.append(pid)
    return found


def kill_pids(pids, grace=3.0):
    """SIGTERM (and SIGCONT, for stopped daemons), then SIGKILL what is left."""
    pids = [p for p in set(pids) if p > 1 and p != os.getpid() and alive(p)]
    for pid in pids:
        for sig in (signal.SIGTERM, signal.SIGCONT):
            try:
                os.kill(pid, sig)
            except OSError:
                pass
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.02)
    for pid in pids:
        if alive(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


PYENV_EXEC_VARS = ("PYENV_VERSION", "PYENV_DIR", "PYENV_HOOK_PATH", "_PYENV_INSTALL_PREFIX")


def user_env():
    """The environment of the shell that started us.  Under a pyenv shim,
    ``pyenv exec`` put the interpreter's own directories in front of PATH;
    commands must see the PATH a user's shell has, so those go again."""
    env = dict(os.environ)
    root = env.get("PYENV_ROOT")
    if not root or "PYENV_VERSION" not in env:
        return env
    parts = env.get("PATH", "").split(os.pathsep)
    k = 0
    while k < len(parts) and parts[k].startswith(root + os.sep) and not parts[k].endswith(os.sep + "shims"):
        k += 1
    if k:
        env["PATH"] = os.pathsep.join(parts[k:])
        for var in PYENV_EXEC_VARS:
            env.pop(var, None)
    return env


class Result:
    """A finished command: exit code, output, duration; ``end`` (perf_counter)
    and ``wall`` (time.time) are taken the moment it was reaped."""

    __slots__ = ("rc", "out", "err", "seconds", "end", "wall")

    def __init__(self, rc, out, err, seconds, end, wall):
        self.rc, self.out, self.err = rc, out, err
        self.seconds, self.end, self.wall = seconds, end, wall


class Sandbox:
    """A temporary $HOME/$TMPDIR whose processes are all found and killed at close()."""

    def __init__(self, name, path_prefix=(), env=None):
        with _lock:
            _counter[0] += 1
            n = _counter[0]
        self.name = name
        self.dir = tempfile.mkdtemp(prefix="gsat-bench-%s-" % name, dir=BASE[0])
        self.home = os.path.join(self.dir, "home")
        self.tmp = os.path.join(self.dir, "tmp")
        self.work = os.path.join(self.dir, "work")
        for d in (self.home, self.tmp, self.work):
            os.makedirs(d)
        self.tag = "%d.%d.%s" % (os.getpid(), n, name)
        base = {k: v for k, v in user_env().items() if not k.startswith(("GSAT_", "TS_", "NQ"))}
        base.update(env or {})
        base.update({"HOME": self.home, "TMPDIR": self.tmp, TAG_VAR: self.tag})
        if path_prefix:
            base["PATH"] = os.pathsep.join(list(path_prefix) + [base.get("PATH", "")])
        self.env = base
        self.started = []
        self.closed = False
        self._n = 0
        _SANDBOXES.append(self)

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def popen(self, argv, stdout=None, stderr=None, cwd=None, env=None):
        if self.closed:
            # A client thread still running after an interrupt: start nothing.
            raise Interrupted("sandbox %s is closed" % self.name)
        # Own session: a timed client's group never contains queued tsp/nq jobs.
        p = subprocess.Popen(argv, env=dict(self.env, **(env or {})), cwd=cwd or self.work, stdin=subprocess.DEVNULL,
                             stdout=stdout or subprocess.DEVNULL, stderr=stderr or subprocess.DEVNULL,
                             start_new_session=True)
        self.started.append(p)
        return p

    def run(self, argv, timeout=120, cwd=None, env=None):
        """Run argv to completion; output goes through files, not pipes,
        because a daemonising client may keep a pipe open for good."""
        with _lock:
            self._n += 1
            n = self._n
        out_path = os.path.join(self.tmp, ".out.%d" % n)
        err_path = os.path.join(self.tmp, ".err.%d" % n)
        with open(out_path, "w+") as out, open(err_path, "w+") as err:
            start = time.perf_counter()
            p = self.popen(argv, stdout=out, stderr=err, cwd=cwd, env=env)
            # Popen.wait(timeout) polls with growing sleeps, which would round
            # every figure up to tens of ms; block in waitpid and let a timer
            # enforce the timeout.
            expired = []
            timer = threading.Timer(timeout, lambda: (expired.append(1), kill_pids([p.pid], grace=0.5)))
            timer.start()
            try:
                rc = p.wait()
            finally:
                timer.cancel()
            end, wall = time.perf_counter(), time.time()
            if expired:
                rc = None
            out.seek(0)
            err.seek(0)
            result = Result(rc, out.read(), err.read(), end - start, end, wall)
        os.unlink(out_path)
        os.unlink(err_path)
        return result

    def check(self, argv, timeout=120):
        r = self.run(argv, timeout)
        if r.rc != 0:
            raise RuntimeError("%s exited %s: %s %s" % (" ".join(argv), r.rc, r.out.strip(), r.err.strip()))
        return r

    def script(self, name, body):
        path = os.path.join(self.work, name)
        with open(path, "w") as f:
            f.write("#!/bin/sh\n" + body)
        os.chmod(path, 0o755)
        return path

    def pids(self):
        """Every live process of this sandbox: those that inherited our marker
        or our $HOME (a tool may rebuild a job's environment), and our own
        unreaped children."""
        markers = [("%s=%s" % (TAG_VAR, self.tag)).encode(), ("HOME=%s" % self.home).encode()]
        pids = tagged_pids(markers)
        pids += [p.pid for p in self.started if p.poll() is None]
        return [p for p in set(pids) if alive(p)]

    def close(self):
        self.closed = True
        for _ in range(3):
            pids = self.pids()
            if not pids:
                break
            kill_pids(pids)
        discard(self.dir)
        if self in _SANDBOXES:
            _SANDBOXES.remove(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class tmpfs_base:
    """Put the sandboxes made inside the block on tmpfs (/dev/shm), to tell
    the software's own cost from the disk's; None if there is no tmpfs."""

    def __enter__(self):
        self.old = BASE[0]
        try:
            with open("/proc/mounts") as f:
                ok = any(line.split()[1:3] == ["/dev/shm", "tmpfs"] for line in f)
            self.dir = tempfile.mkdtemp(prefix="gsat-bench-", dir="/dev/shm") if ok else None
        except OSError:
            self.dir = None
        if self.dir:
            BASE[0] = self.dir
        return self.dir

    def __exit__(self, *exc):
        BASE[0] = self.old
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)


def close_all():
    """Clean up every sandbox still open (interrupted runs)."""
    for box in list(_SANDBOXES):
        try:
            box.close()
        except Exception as e:  # keep cleaning the others
            sys.stderr.write("bench: cleanup of %s: %s\n" % (box.dir, e))


def wait_until(predicate, timeout, interval=0.002):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def create_cost(base, n=200):
    """Median seconds to create, write and close a small file under ``base``:
    job stores and message boxes are made of such files, and this varies a
    lot between filesystems (and, on some machines, between directories)."""
    d = tempfile.mkdtemp(prefix="gsat-bench-probe-", dir=base)
    times = []
    try:
        for i in range(n):
            start = time.perf_counter()
            fd = os.open(os.path.join(d, "f%d" % i), os.O_WRONLY | os.O_CREAT, 0o600)
            os.write(fd, b"x\n")
            os.close(fd)
            times.append(time.perf_counter() - start)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    return statistics.median(times)


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt_s(seconds):
    if seconds is None:
        return "n/a"
    if seconds < 1:
        return "%.1f ms" % (seconds * 1000)
    return "%.2f s" % seconds


def fmt_ratio(r):
    return "n/a" if r is None else "%.2fx" % r


def log(text):
    sys.stderr.write("[bench %s] %s\n" % (time.strftime("%H:%M:%S"), text))
    sys.stderr.flush()


def replace_section(path, title, text):
    """Put ``text`` (a section starting ``## TITLE``) into the markdown file
    ``path``, in place of an earlier one of that title or at the end."""
    with open(path) as f:
        old = f.read()
    start = old.find("\n## %s\n" % title)
    if start >= 0:
        end = old.find("\n## ", start + 1)
        old = old[:start + 1] + (old[end + 1:] if end >= 0 else "")
    with open(path, "w") as f:
        f.write(old.rstrip("\n") + "\n\n" + text)
