"""A Ctrl-C that arrives just as a command has returned, while the launcher
goes from "interruptible" to "ignored", prints no traceback.

The launchers used to switch SIGINT to SIG_IGN there.  A Ctrl-C caught by
the interpreter a moment before the switch was raised from the switch
itself (a KeyboardInterrupt outside any ``try``), and one caught during it
was reported as "Signal 2 ignored due to race condition", both with a
traceback (seen in CI).  The window is microseconds wide: a stand-in
command tells its parent it is about to return, and the parent sends
SIGINT within a few microseconds of that, many times."""

import os
import signal
import subprocess
import time

import pytest

from tests.conftest import BIN, INSTALLED

LIB = os.path.join(os.path.dirname(BIN), "lib", "gsatellite")

# Returns at once after its parent's "go", which the parent follows with
# SIGINT: the signal lands in the launcher's last lines or in main.
STAND_IN = """import os

def main():
    os.write(1, b"r")
    os.read(0, 1)
    return 0
"""


def _tree(root, launcher):
    """A copy of ``launcher`` next to a package that is ours except for
    the module it runs."""
    os.makedirs(os.path.join(root, "bin"))
    cli = os.path.join(root, "lib", "gsatellite", "cli")
    os.makedirs(cli)
    for name in os.listdir(LIB):
        if name not in ("cli", "__pycache__"):
            os.symlink(os.path.join(LIB, name), os.path.join(root, "lib", "gsatellite", name))
    for name in os.listdir(os.path.join(LIB, "cli")):
        if name.endswith(".py") and name != launcher + ".py":
            os.symlink(os.path.join(LIB, "cli", name), os.path.join(cli, name))
    with open(os.path.join(cli, launcher + ".py"), "w") as f:
        f.write(STAND_IN)
    path = os.path.join(root, "bin", launcher)
    with open(os.path.join(BIN, launcher)) as src, open(path, "w") as dst:
        dst.write(src.read())
    os.chmod(path, 0o755)
    return path


@pytest.mark.skipif(INSTALLED, reason="tests the checkout's launchers")
@pytest.mark.parametrize("launcher", ["gqsig", "gsatctl"])
def test_ctrl_c_as_the_command_returns_prints_no_traceback(tmp_path, launcher):
    path = _tree(str(tmp_path), launcher)
    for attempt in range(200):
        p = subprocess.Popen([path], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        assert p.stdout.read(1) == b"r"
        p.stdin.write(b"g")
        p.stdin.flush()
        end = time.perf_counter() + (attempt % 5) * 4e-6
        while time.perf_counter() < end:
            pass
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=60)
        assert b"Traceback" not in err and b"Exception" not in err, (attempt, err)
        assert p.returncode in (0, 130), (attempt, p.returncode, err)
