"""liveness.Parent: a sputnik's look-up of the live controller, answered
from what it found last time only while that controller is still its
parent and gsatlcPid/gsatlcHostName still name it (issue 18)."""

import os
import subprocess
import sys
import time

from gsatellite import liveness, paths, pidref
from gsatellite.fsutil import write_atomic

LIB = os.path.dirname(os.path.dirname(os.path.abspath(liveness.__file__)))


def _publish(pid):
    os.makedirs(os.path.dirname(paths.gsatlc_pid_file()), exist_ok=True)
    write_atomic(paths.gsatlc_host_file(), paths.hostname() + "\n")
    pidref.write_pid_file(paths.gsatlc_pid_file(), pid)


def _spoil_sidecar():
    """The start time of gsatlcPid's process made wrong in place: the full
    look-up takes the PID for a stranger's from now on."""
    side = paths.gsatlc_pid_file() + pidref.SIDECAR
    with open(side) as f:
        words = f.read().split()
    words[1] = str(int(words[1]) + 12345)
    with open(side, "r+") as f:
        f.write(" ".join(words) + "\n")


def test_the_parent_controller_is_kept_while_its_pid_file_is_the_same(home):
    _publish(os.getppid())
    parent = liveness.Parent()
    assert parent.controller() == (paths.hostname(), os.getppid())
    _spoil_sidecar()
    assert liveness.controller() is None
    # Still our parent, still the same gsatlcPid: no look-up again.
    assert parent.controller() == (paths.hostname(), os.getppid())


def _rewrite_in_place(path, text):
    """As a classic tool writes (``echo ... > FILE``): same inode."""
    with open(path, "r+") as f:
        f.truncate(0)
        f.write(text)


def _classic_controller():
    """A process called gsatlc, as a classic controller is (its gsatlcPid
    has no sidecar): returned once its name is there."""
    proc = subprocess.Popen(["bash", "-c", "exec -a gsatlc sleep 60"])
    for _ in range(5000):
        try:
            with open("/proc/%d/cmdline" % proc.pid, "rb") as f:
                if f.read().startswith(b"gsatlc\0"):
                    return proc
        except OSError:
            pass
        time.sleep(0.001)
    raise AssertionError("bash did not exec")


def test_a_pid_file_rewritten_in_place_naming_another_controller_is_looked_up(home):
    other = _classic_controller()
    try:
        _publish(os.getppid())
        parent = liveness.Parent()
        assert parent.controller() == (paths.hostname(), os.getppid())
        inode = os.stat(paths.gsatlc_pid_file()).st_ino
        _rewrite_in_place(paths.gsatlc_pid_file(), "%d\n" % other.pid)
        assert os.stat(paths.gsatlc_pid_file()).st_ino == inode
        # What the full look-up says, not the kept answer (our parent).
        assert parent.controller() == liveness.controller() == (paths.hostname(), other.pid)
    finally:
        other.kill()
        other.wait()


def test_a_host_file_naming_another_host_is_looked_up(home):
    _publish(os.getppid())
    parent = liveness.Parent()
    assert parent.controller() == (paths.hostname(), os.getppid())
    _rewrite_in_place(paths.gsatlc_host_file(), "elsewhere.example.org\n")
    assert parent.controller() == ("elsewhere.example.org", os.getppid())
    assert parent.kept is None  # not this host's: not our parent


def test_a_pid_file_written_anew_for_the_same_controller_is_still_kept(home):
    _publish(os.getppid())
    parent = liveness.Parent()
    assert parent.controller() == (paths.hostname(), os.getppid())
    _publish(os.getppid())  # another inode, same content
    _spoil_sidecar()
    assert parent.controller() == (paths.hostname(), os.getppid())


def test_a_stale_pid_file_is_no_controller(home, monkeypatch):
    _publish(os.getppid())
    parent = liveness.Parent()
    assert parent.controller() is not None
    monkeypatch.setattr(liveness, "MAX_AGE", -1)
    assert parent.controller() is None


def test_a_controller_that_is_not_our_parent_is_looked_up_every_time(home):
    other = subprocess.Popen(["sleep", "60"])
    try:
        _publish(other.pid)
        parent = liveness.Parent()
        assert parent.controller() == (paths.hostname(), other.pid)
        _spoil_sidecar()
        assert parent.controller() is None
    finally:
        other.kill()
        other.wait()


ORPHAN = r"""
import os, sys, time
sys.path.insert(0, %(lib)r)
from gsatellite import liveness, paths, pidref
from gsatellite.fsutil import write_atomic
os.makedirs(os.path.dirname(paths.gsatlc_pid_file()), exist_ok=True)
told_r, told_w = os.pipe()
out_r, out_w = os.pipe()
middle = os.fork()
if middle == 0:  # the controller, parent of the sputnik below
    middle = os.getpid()
    write_atomic(paths.gsatlc_host_file(), paths.hostname() + "\n")
    pidref.write_pid_file(paths.gsatlc_pid_file(), os.getpid())
    if os.fork() == 0:  # the sputnik
        parent = liveness.Parent()
        first = parent.controller()
        os.write(told_w, b"x")
        while os.getppid() == middle:
            time.sleep(0.005)
        # Orphaned within a second of its controller's death: gsatlcPid
        # still looks young and names the same file.
        os.write(out_w, repr((first, parent.controller(), middle)).encode())
        os._exit(0)
    os.read(told_r, 1)
    os._exit(0)
os.close(out_w)
os.waitpid(middle, 0)
data = b""
while True:
    chunk = os.read(out_r, 4096)
    if not chunk:
        break
    data += chunk
print(data.decode())
"""


def test_a_controller_that_died_is_not_kept(home):
    out = subprocess.run([sys.executable, "-c", ORPHAN % {"lib": LIB}], env=dict(os.environ),
                         capture_output=True, text=True, timeout=60)
    first, second, middle = eval(out.stdout)
    assert first == (paths.hostname(), middle)
    assert second is None


def test_a_pid_file_without_its_sidecar_must_name_a_controllers_program(home):
    """Found by a review: a fresh gsatlcPid without its start-time sidecar
    (as a classic controller writes it) naming a stranger's process was
    taken for the controller: a sputnik sent its job's end there, with a
    SIGCONT, also to another user's process."""
    stranger = subprocess.Popen(["sleep", "30"])
    classic = _classic_controller()
    try:
        for proc, found in ((stranger, False), (classic, True)):
            _publish(proc.pid)
            os.unlink(paths.gsatlc_pid_file() + pidref.SIDECAR)
            got = liveness.controller()
            assert (got == (paths.hostname(), proc.pid)) if found else got is None, (proc.args, got)
    finally:
        for proc in (stranger, classic):
            proc.kill()
            proc.wait()
