"""Fakes for in-process tests of the controller: a clock the test moves and
an OS seam that records what the controller asks of the system (as
Supervisor's ``DummyOptions``), so no sputnik, mailer or forwarder runs."""

import os
import threading

import pytest

from gsatellite import config, paths
from gsatellite.transport import mbox
from gsatellite.protocol import split


class Clock:
    def __init__(self, t=1000.0):
        self.t = t

    def __call__(self):
        return self.t

    def advance(self, seconds):
        self.t += seconds


class FakeProcess:
    """A ProcessRef whose life the FakeSystem's ``dead`` decides."""

    def __init__(self, system, pid):
        self.system = system
        self.pid = pid

    def alive(self):
        return self.pid not in self.system.dead

    group_alive = alive


class FakeSystem:
    """Records calls; ``dead`` holds the PIDs :meth:`alive` denies."""

    def __init__(self):
        self.calls = []
        self.dead = set()
        self.ended = {}  # job.pid PID -> wait status of an ended, unreaped job
        self.reaped = []  # (pid, exit value) of children that have exited
        self.launch_error = None
        self.next_pid = 4000000
        self.woken = threading.Event()
        self.retired = []  # sputnik PIDs that told their job's end
        self.groups = set()  # dead leaders whose process groups still have members
        self.unread = []  # no sputnik sockets: nothing read from them

    def spare_messages(self):
        found, self.unread = self.unread, []
        return found

    def names(self):
        return [c[0] for c in self.calls]

    def launch_sputnik(self, job_path, job_id, adopt=False):
        self.calls.append(("adopt_sputnik" if adopt else "launch_sputnik", job_path, job_id))
        if self.launch_error is not None:
            raise self.launch_error
        self.next_pid += 1
        return self.next_pid

    def keep_spare(self, wanted):
        self.spare_wanted = wanted

    def retire(self, pid):
        self.retired.append(pid)

    def alive(self, pid):
        self.calls.append(("alive", pid))
        return pid not in self.dead

    def find_job_process(self, job_path):
        return None

    def half_started(self, job_id):
        return None

    def ended_status(self, path):
        try:
            with open(path) as f:
                text = f.read().strip()
        except OSError:
            return None
        return self.ended.get(int(text)) if text.isdigit() else None

    def spawn(self, fn):
        self.calls.append(("spawn", fn))
        return 0

    def process(self, path, names=(), group=False):
        """A PID file's process: alive unless its PID is in ``dead``."""
        try:
            with open(path) as f:
                text = f.read().strip()
        except OSError:
            return None
        if not text.isdigit():
            return None
        pid = int(text)
        if pid in self.dead and not (group and pid in self.groups):
            return None
        return FakeProcess(self, pid)

    def reap(self, ended):
        self.calls.append(("reap",))
        for pid, value in self.reaped:
            ended(pid, value)
        self.reaped = []

    def wake(self, pid):
        self.calls.append(("wake", pid))
        self.woken.set()

    def become_subreaper(self):
        self.calls.append(("become_subreaper",))

    def start_forwarder(self):
        self.calls.append(("start_forwarder",))

    def heal_forwarder(self):
        self.calls.append(("heal_forwarder",))

    def stop_forwarder(self):
        self.calls.append(("stop_forwarder",))


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("GSAT_HOSTNAME", "testhost")
    # The daemon and store logic here is driven through message boxes (a
    # test that wants queues sets GSAT_TRANSPORT itself, as test_sysv
    # does): an ambient GSAT_TRANSPORT=sysv must not change what runs.
    monkeypatch.setenv("GSAT_TRANSPORT", "file")
    # The shipped mail service is linked into the system service directories
    # (the classic default); keep it from trying to mail from unit tests.
    monkeypatch.setenv("GSAT_MAIL_SERVICE", "no")
    # Default jobs would be watched for the runner's own grid proxy.
    monkeypatch.delenv("X509_USER_PROXY", raising=False)
    paths.reset()
    config.reset()
    yield tmp_path
    paths.reset()
    config.reset()


@pytest.fixture
def make_controller(home):
    """``make_controller(**env_settings)``: a Controller on a fake clock
    (``c.fake_clock``) and a :class:`FakeSystem` (``c.system``)."""
    from gsatellite import controller as ctl

    made = []

    def make(**settings):
        for key, value in settings.items():
            os.environ["GSAT_" + key.upper()] = str(value)
        config.reset()
        ctl.JobStore().ensure()
        clock = Clock()
        wall = Clock(1.7e9)
        c = ctl.Controller(system=FakeSystem(), clock=clock, now=wall)
        c.fake_clock, c.fake_now = clock, wall
        made.append((c, settings))
        return c

    yield make
    # Last made first: each sleeper restores the signal mask from before it.
    for c, settings in reversed(made):
        c.shutdown()
        c.sleeper.release()
        for key in settings:
            os.environ.pop("GSAT_" + key.upper(), None)


def requests_in(box):
    """Every ``(command, answer_box)`` now in ``box``, in order."""
    out = []
    while True:
        msg = mbox.receive(box)
        if msg is None:
            return out
        out.append(split(msg))


def answers_in(box):
    """Every answer now in ``box``, in order."""
    return [text for text, _ in requests_in(box)]


def in_forked_child(fn):
    """What ``fn()`` (bytes) returns in a child forked without exec, as a
    spare sputnik is forked from the controller."""
    r, w = os.pipe()
    child = os.fork()
    if child == 0:
        try:
            os.write(w, fn())
        finally:
            os._exit(0)
    os.close(w)
    try:
        return os.read(r, 4096), child
    finally:
        os.close(r)
        os.waitpid(child, 0)


def new_job(home, job_type="default", bus=None, body="exit 0\n"):
    """A queued job in a fresh store: ``(store, job_id)``."""
    from gsatellite.jobstore import JobStore

    store = JobStore(bus=bus)
    store.ensure()
    job_id, _ = store.new_id()
    src = os.path.join(str(home), "j.job")
    with open(src, "w") as f:
        f.write(body)
    store.create(job_id, src, job_type)
    return store, job_id


@pytest.fixture(autouse=True)
def _signal_mask_kept():
    """Fail a test that leaves signals blocked in the test process: every
    process started afterwards would inherit the mask (exec keeps it), and
    a gqwait with SIGINT blocked cannot be interrupted."""
    import signal

    before = signal.pthread_sigmask(signal.SIG_BLOCK, ())
    yield
    after = signal.pthread_sigmask(signal.SIG_SETMASK, before)
    assert after == before, "signals left blocked: %s" % sorted(after - before)
