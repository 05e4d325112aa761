"""Shared fixtures: a temporary $HOME with the real daemons, cleaned up by PID.

Every test that starts daemons uses :func:`gsat`; its teardown kills the
controller, every signal forwarder, every sputnik and every job process
group it can find in the temporary ``$HOME`` (by the PIDs written there),
even when the test failed.  Nothing is ever killed by name.
"""

import os
import signal
import stat
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIB = os.path.join(ROOT, "lib")
# GSAT_TEST_INSTALLED=1 (run by the installed package's interpreter): test the
# installation, its console scripts beside that interpreter and its modules
# from site-packages, instead of the checkout's bin/ and lib/.
INSTALLED = os.environ.get("GSAT_TEST_INSTALLED") == "1"
if INSTALLED:
    BIN = os.path.dirname(sys.executable)
else:
    BIN = os.path.join(ROOT, "bin")
    sys.path.insert(0, LIB)


def _read(path):
    # Non-blocking, regular files only: tests plant FIFOs where files belong.
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return ""
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return ""
        chunks = []
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                return b"".join(chunks).decode("utf-8", "replace").strip()
            chunks.append(chunk)
    except OSError:
        return ""
    finally:
        os.close(fd)


class Gsat:
    """A temporary installation: $HOME, environment and command helpers."""

    def __init__(self, tmp_path):
        self.tmp = tmp_path
        self.home = str(tmp_path / "home")
        os.makedirs(self.home)
        self.g = os.path.join(self.home, ".gsatellite")
        self.jobs = str(tmp_path / "jobs")
        os.makedirs(self.jobs)
        # Settings from outside pass through (.ci/run's GSAT_TRANSPORT=sysv pass).
        self.env = dict(os.environ)
        self.env["HOME"] = self.home
        self.env["PATH"] = BIN + os.pathsep + self.env.get("PATH", "")
        self.env.pop("GSAT_HOSTNAME", None)
        # The shipped mail service is linked into the system service
        # directories (the classic default); tests that want it turn it on.
        self.env["GSAT_MAIL_SERVICE"] = "no"
        # A grid user's own proxy must not make the controller watch (and
        # maybe hold) every test job; the proxy tests set their own.
        self.env.pop("X509_USER_PROXY", None)
        self.extra_pids = []

    # -- commands ---------------------------------------------------------------
    def run(self, *argv, check=False, timeout=60, input=None, cwd=None):
        p = subprocess.run(
            list(argv), env=self.env, capture_output=True, text=True,
            timeout=timeout, input=input, cwd=cwd or self.jobs,
        )
        if check and p.returncode != 0:
            raise AssertionError("%s failed (%d): %s %s" % (argv, p.returncode, p.stdout, p.stderr))
        return p

    def start(self, **settings):
        for key, value in settings.items():
            self.env["GSAT_" + key.upper()] = str(value)
        self.run("gsatlcd", "--start", check=True)

    def stop(self):
        return self.run("gsatlcd", "--stop")

    def job(self, name, body, shebang="#!/bin/bash\n"):
        path = os.path.join(self.jobs, name)
        with open(path, "w") as f:
            f.write(shebang + body)
        os.chmod(path, 0o755)
        return path

    def service(self, event, name, body, mode=0o700):
        """A user service for ``event`` in ``$HOME/.gsatellite/services``."""
        d = os.path.join(self.g, "services", "on" + event)
        os.makedirs(d, exist_ok=True)
        path = os.path.join(d, name)
        with open(path, "w") as f:
            f.write("#!/bin/bash\n" + body)
        os.chmod(path, mode)
        return path

    def qsub(self, *paths):
        p = self.run("gqsub", *paths, check=True)
        ids = p.stdout.split()
        return ids[0] if len(ids) == 1 else ids

    # -- store ---------------------------------------------------------------------
    def job_dir(self, job_id):
        return os.path.join(self.g, "gschedule", "jobs", job_id + ".d")

    def attr(self, job_id, name):
        return _read(os.path.join(self.job_dir(job_id), name))

    def state(self, job_id):
        return self.attr(job_id, "job.state")

    def wait_state(self, job_id, states, timeout=30):
        if isinstance(states, str):
            states = (states,)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.state(job_id) in states:
                return self.state(job_id)
            time.sleep(0.02)
        raise AssertionError("job %s still %r after %ss, wanted %s" % (job_id, self.state(job_id), timeout, states))

    def wait_for(self, predicate, timeout=30, what="condition"):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.02)
        raise AssertionError("timed out waiting for %s" % what)

    def controller_pid(self):
        pid = _read(os.path.join(self.g, "gsatlcPid"))
        return int(pid) if pid.isdigit() else None

    def controller_box(self):
        host = _read(os.path.join(self.g, "gsatlcHostName"))
        return os.path.join(self.g, "mboxes", host, "%d.inbox" % self.controller_pid())

    def host(self):
        return _read(os.path.join(self.g, "gsatlcHostName"))

    # -- cleanup --------------------------------------------------------------------
    def pids(self):
        found = []
        pid = self.controller_pid()
        if pid:
            found.append(("pid", pid))
        run = os.path.join(self.g, "var", "run")
        for host in _listdir(run):
            p = _read(os.path.join(run, host, "sigfwd.pid"))
            if p.isdigit():
                found.append(("pid", int(p)))
        jobs = os.path.join(self.g, "gschedule", "jobs")
        for d in _listdir(jobs):
            p = _read(os.path.join(jobs, d, "sputnik.pid"))
            if p.isdigit():
                # sputniks ignore SIGTERM by design (users signal the job,
                # not its supervisor), so they get SIGKILL at once.
                found.append(("sputnik", int(p)))
            p = _read(os.path.join(jobs, d, "job.pid"))
            if p.isdigit():
                found.append(("group", int(p)))
        found.extend(("pid", p) for p in self.extra_pids)
        return found

    def cleanup(self):
        targets = self.pids()
        for kind, pid in targets:
            _kill(kind, pid, signal.SIGKILL if kind in ("group", "sputnik") else signal.SIGTERM)
            _kill(kind, pid, signal.SIGCONT)
        deadline = time.monotonic() + 5
        for kind, pid in targets:
            while kind == "pid" and _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.02)
            if kind == "pid" and _alive(pid):
                _kill(kind, pid, signal.SIGKILL)
        # What the PID files no longer name: a forwarder a client or sputnik
        # healed (started again) while the test ended, a daemon whose PID
        # file a test removed.  Found by this $HOME in its environment,
        # which only processes started for this installation carry.
        for _ in range(2):
            for pid in _processes_with_home(self.home):
                _kill("pid", pid, signal.SIGKILL)
        _remove_queues(self.g)


def _processes_with_home(home):
    marker = b"\0HOME=" + os.fsencode(home) + b"\0"
    found = []
    for name in _listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            with open("/proc/%s/environ" % name, "rb") as f:
                env = b"\0" + f.read()
        except OSError:
            continue
        if marker in env:
            found.append(int(name))
    return found


def _remove_queues(g):
    """System V queues (``GSAT_TRANSPORT=sysv``) of processes killed above:
    the next daemon start would remove them, but this $HOME has none."""
    from contract.transports import remove_queues

    remove_queues(g)


def _listdir(d):
    try:
        return os.listdir(d)
    except OSError:
        return []


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours counts as gone.
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _kill(kind, pid, sig):
    try:
        if kind == "group":
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except OSError:
        pass


@pytest.fixture
def procs(gsat):
    """Popen objects started by a test; killed by PID and reaped at the end."""
    started = []
    yield started
    for p in started:
        if p.poll() is None:
            p.kill()
        p.wait()


@pytest.fixture
def gsat(tmp_path):
    g = Gsat(tmp_path)
    try:
        yield g
    finally:
        g.cleanup()
