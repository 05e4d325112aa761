"""Which process a PID file names (issue 11, item 2), and a sputnik that
cannot write its records (item 4)."""

import errno
import os
import subprocess
import sys
import time

import pytest

from gsatellite import paths, pidref
from gsatellite.cli import gsatlcd

from .conftest import in_forked_child, new_job


@pytest.fixture
def kills(monkeypatch):
    sent = []
    monkeypatch.setattr(os, "kill", lambda pid, sig: sent.append((pid, sig)))
    monkeypatch.setattr(os, "killpg", lambda pid, sig: sent.append((-pid, sig)))
    return sent


@pytest.mark.parametrize("text", ["1", "0", "-1", "99999999"])
def test_gsatlcd_stop_with_gsatlcpid_holding_1_signals_nobody(home, kills, text, capsys):
    os.makedirs(paths.base())
    for name, value in (("gsatlcPid", text), ("gsatlcHostName", paths.hostname())):
        with open(os.path.join(paths.base(), name), "w") as f:
            f.write(value + "\n")
    assert gsatlcd.main(["--stop"]) == 1
    assert kills == []
    assert "Traceback" not in capsys.readouterr().err


def test_a_recorded_start_time_tells_this_process_from_a_later_one(tmp_path):
    path = str(tmp_path / "x.pid")
    pidref.write_pid_file(path)
    ref = pidref.read_pid_file(path)
    assert ref is not None and ref.pid == os.getpid() and ref.alive()
    with open(path + ".start", "w") as f:
        f.write("%d %d\n" % (os.getpid(), ref.start + 1))
    assert pidref.read_pid_file(path) is None
    pidref.remove_pid_file(path, os.getpid())
    assert not os.path.exists(path) and not os.path.exists(path + ".start")


def test_without_a_start_time_a_process_younger_than_the_file_is_not_its(tmp_path):
    path = str(tmp_path / "classic.pid")
    with open(path, "w") as f:
        f.write("%d\n" % os.getpid())
    assert pidref.read_pid_file(path) is not None  # we started before it was written
    assert pidref.read_pid_file(path, names=("gsatlc",)) is None  # but we are no gsatlc
    os.utime(path, (1, 1))  # written long before this process started
    assert pidref.read_pid_file(path) is None


def test_a_dead_process_is_nobody(tmp_path):
    p = subprocess.Popen(["true"])
    p.wait()
    path = str(tmp_path / "dead.pid")
    pidref.write_pid_file(path, p.pid, 12345)
    assert pidref.read_pid_file(path) is None
    assert not pidref.ProcessRef(p.pid, 12345).signal(0)


def test_sputnik_keeps_the_exit_value_when_the_disk_is_full_and_retries(home, monkeypatch):
    from gsatellite import runs
    from gsatellite import sputnik as sp

    s, job_id = new_job(home)
    sput = sp.Sputnik(s.job_path(job_id), job_id)
    try:
        full = {"on": True}
        real_append = runs.append_line_to

        def append(fd, line, path):
            if full["on"]:
                raise OSError(errno.ENOSPC, "No space left on device")
            return real_append(fd, line, path)

        monkeypatch.setattr(runs, "append_line_to", append)
        sput.record_exit(5)
        assert sput.exit == 5 and sput.unwritten
        sput.tick()
        assert not sput.stop, "exited before its exit value was written"
        full["on"] = False
        sput.tick()
        assert sput.unwritten is None
        with open(paths.job_file(job_id, "job.exit")) as f:
            assert f.read() == "5\n"
        with open(paths.job_file(job_id, "job.stop")) as f:
            assert len(f.read().split()) == 1
    finally:
        sput.shutdown()
        sput.sleeper.release()


def test_a_box_owner_that_started_after_the_box_last_changed_is_not_woken():
    import time

    assert pidref.may_wake(os.getpid(), time.time())
    assert pidref.may_wake(os.getpid(), None)  # unknown: as classic
    assert not pidref.may_wake(os.getpid(), 1.0)  # the box is older than us


def test_the_exit_status_of_an_unreaped_process_is_read_from_proc():
    """A zombie keeps its wait status in /proc/PID/stat (field 52): a job
    whose supervisor and controller were both killed can still be accounted
    for, but only if it is the very process recorded."""
    r, w = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(w)
        os.read(r, 1)
        os._exit(7)
    os.close(r)
    try:
        ref = pidref.ProcessRef(child, pidref.start_time(child))
        assert ref.ended_status() is None  # still running
        os.close(w)  # let it exit; we do not reap it yet
        deadline = time.monotonic() + 10
        while ref.ended_status() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert ref.ended_status() == 7 << 8
        assert pidref.ProcessRef(child, ref.start + 1).ended_status() is None  # another process
    finally:
        os.waitpid(child, 0)
    assert ref.ended_status() is None  # reaped: gone


def test_a_record_of_another_boot_names_nobody(tmp_path):
    # Issue 17: after a reboot the same PID may even have the same start
    # time; the boot id in the sidecar tells the two apart.
    path = str(tmp_path / "sigfwd.pid")
    pidref.write_pid_file(path)
    words = open(path + ".start").read().split()
    assert words[:2] == [str(os.getpid()), str(pidref.start_time(os.getpid()))]
    assert words[2] == pidref.boot_id() != ""
    assert pidref.read_pid_file(path) is not None
    with open(path + ".start", "w") as f:
        f.write("%s %s 00000000-0000-0000-0000-000000000000\n" % tuple(words[:2]))
    assert pidref.read_pid_file(path) is None
    assert pidref.read_pid_file(path, group=True) is None
    assert pidref.ended_status(path) is None
    # A sidecar of two words (written before boot ids) is read as before.
    with open(path + ".start", "w") as f:
        f.write("%s %s\n" % tuple(words[:2]))
    assert pidref.read_pid_file(path) is not None


def test_a_process_is_found_by_the_name_set_name_gave_it():
    """A job its sputnik began to start still bears the sputnik's name; the
    controller looks for it by that name before it queues the job again."""
    lib = os.path.dirname(os.path.dirname(pidref.__file__))
    ready = "import sys; sys.path.insert(0, %r); from gsatellite import proc; " \
            "proc.set_name('sputnik', '424242'); print('ready', flush=True); sys.stdin.read()" % lib
    home = "/nonexistent/home-%d" % os.getpid()
    p = subprocess.Popen([sys.executable, "-c", ready], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         env=dict(os.environ, HOME=home))
    try:
        assert p.stdout.readline() == b"ready\n"
        found = pidref.find_named("sputnik 424242")
        assert found is not None and found.pid == p.pid
        assert pidref.find_named("sputnik 424243") is None
        # Another installation's (found by a review: a job of another $HOME
        # with the same id made a controller watch its sputnik for ever).
        assert pidref.find_named("sputnik 424242", home).pid == p.pid
        assert pidref.find_named("sputnik 424242", home + "x") is None
        # Any spelling of that $HOME (found by the next review).
        assert pidref.find_named("sputnik 424242", home + "/").pid == p.pid
        assert pidref.find_named("sputnik 424242", home.replace("/", "//", 1)).pid == p.pid
    finally:
        p.stdin.close()
        p.wait(10)
    assert pidref.find_named("sputnik 424242") is None


def test_a_process_start_is_the_wall_clock_time_it_was_started(monkeypatch):
    """started_at counts back from the clock since boot (no read of
    /proc/stat); it agrees with /proc/stat's btime, whole seconds, and a
    child's start lies between the moments before and after it was made."""
    before = time.time()
    child = subprocess.Popen(["sleep", "30"])
    after = time.time()
    try:
        began = pidref.started_at(child.pid)
        # Clock ticks of 10 ms: the start is truncated to the tick.
        assert before - 0.02 <= began <= after + 0.01
        by_btime = pidref._boot_time() + pidref.start_time(child.pid) / os.sysconf("SC_CLK_TCK")
        assert abs(began - by_btime) <= 1.01
        monkeypatch.setattr(pidref, "_BOOTTIME", None)
        assert pidref.started_at(child.pid) == by_btime
    finally:
        child.kill()
        child.wait()
    assert pidref.started_at(child.pid) is None


def _state(pid):
    with open("/proc/%d/stat" % pid) as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def test_an_owner_answered_again_is_woken_through_a_pidfd_and_a_stranger_never(monkeypatch):
    """A daemon answering one long-lived queue inbox again: the first two
    wake-ups check the owner's start time, from the third on the pidfd
    opened at the second carries the signal (no /proc read, no kill by
    PID); once the owner is gone nothing is sent to its PID.  A process
    that started after the inbox was made is never signalled, asked twice."""
    import signal

    real_kill, real_started = os.kill, pidref.started_at
    kills, reads = [], []
    monkeypatch.setattr(os, "kill", lambda pid, sig: kills.append((pid, sig)) or real_kill(pid, sig))
    monkeypatch.setattr(pidref, "started_at", lambda pid: reads.append(pid) or real_started(pid))
    monkeypatch.setattr(pidref, "_held", {})
    owner = subprocess.Popen(["sleep", "30"])
    try:
        made = time.time() + 0.5  # the inbox's ctime: after its owner started
        assert pidref.signal_owner(owner.pid, made)
        assert pidref.signal_owner(owner.pid, made)
        assert (len(reads), kills) == (2, [(owner.pid, signal.SIGCONT)])
        real_kill(owner.pid, signal.SIGSTOP)
        deadline = time.monotonic() + 10
        while _state(owner.pid) != "T" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _state(owner.pid) == "T"
        assert pidref.signal_owner(owner.pid, made)
        while _state(owner.pid) == "T" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _state(owner.pid) != "T"  # continued, by the pidfd
        assert (len(reads), len(kills)) == (2, 1)
    finally:
        real_kill(owner.pid, signal.SIGKILL)
        owner.wait()
    assert not pidref.signal_owner(owner.pid, made)
    assert len(kills) == 1

    stranger = subprocess.Popen(["sleep", "30"])
    try:
        older = time.time() - 10  # an inbox made before the stranger started
        assert not pidref.signal_owner(stranger.pid, older)
        assert not pidref.signal_owner(stranger.pid, older)
        assert not pidref.signal_owner(stranger.pid, older)
        assert len(kills) == 1
    finally:
        real_kill(stranger.pid, signal.SIGKILL)
        stranger.wait()
    assert all(fd is None or fd > 2 for fd in pidref._held.values())


def test_a_held_pidfd_closed_behind_its_back_closes_nothing_of_someone_else(monkeypatch, tmp_path):
    """The number of a held pidfd closed elsewhere and reused by a file:
    the next wake-up finds it is no pidfd, forgets it without closing the
    file, and wakes the owner by PID after checking again."""
    import signal

    monkeypatch.setattr(pidref, "_held", {})
    owner = subprocess.Popen(["sleep", "30"])
    try:
        made = time.time() + 0.5
        assert pidref.signal_owner(owner.pid, made) and pidref.signal_owner(owner.pid, made)
        (fd,) = [v for v in pidref._held.values() if v is not None]
        os.close(fd)
        other = os.open(str(tmp_path / "f"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            assert other == fd  # the lowest free number: the one just closed
            kills = []
            real_kill = os.kill
            monkeypatch.setattr(os, "kill", lambda pid, sig: kills.append(pid) or real_kill(pid, sig))
            assert pidref.signal_owner(owner.pid, made, signal.SIGCONT)
            assert kills == [owner.pid]
            os.fstat(other)  # still open: not closed as if it were ours
        finally:
            os.close(other)
    finally:
        owner.kill()
        owner.wait()


def test_a_pidfd_number_reused_for_another_owner_never_wakes_the_wrong_one(monkeypatch):
    """Owner a's held pidfd closed behind its back and its number given to
    owner b's new pidfd: a wake-up meant for a reaches a (checked again,
    by PID), never b."""
    import signal

    monkeypatch.setattr(pidref, "_held", {})
    a, b = subprocess.Popen(["sleep", "30"]), subprocess.Popen(["sleep", "30"])
    try:
        made = time.time() + 0.5
        assert pidref.signal_owner(a.pid, made) and pidref.signal_owner(a.pid, made)
        (fd,) = [v for v in pidref._held.values() if v is not None]
        os.close(fd)
        assert pidref.signal_owner(b.pid, made) and pidref.signal_owner(b.pid, made)
        assert [v for v in pidref._held.values() if v is not None] == [fd]  # the same number
        for p in (a, b):
            os.kill(p.pid, signal.SIGSTOP)
        deadline = time.monotonic() + 10
        while {_state(a.pid), _state(b.pid)} != {"T"} and time.monotonic() < deadline:
            time.sleep(0.01)
        assert pidref.signal_owner(a.pid, made)
        while _state(a.pid) == "T" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _state(a.pid) != "T" and _state(b.pid) == "T"
    finally:
        for p in (a, b):
            p.kill()
            p.wait()


def test_own_pid_is_the_childs_own_after_a_fork():
    """The kept PID (log lines, message types, pidfds held) must be the
    child's own in a process forked without exec, as a spare sputnik is."""
    assert pidref.own_pid() == os.getpid()
    got, child = in_forked_child(lambda: b"%d %d" % (pidref.own_pid(), os.getpid()))
    assert got.split() == [b"%d" % child, b"%d" % child]
    assert pidref.own_pid() == os.getpid()
