"""gsatellite.cli.leave: a command ends with its status and all its output,
without the interpreter's shut-down (issue 18: the shut-down cost every
command 8-10 ms, and a waiting gqwait returned that much later)."""

import os
import subprocess
import sys

LIB = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "lib")

CODE = """
import atexit, sys
sys.path.insert(0, %r)
from gsatellite.cli import leave
atexit.register(lambda: open(%r, "w").close())  # runs only in a shut-down
sys.stdout.write("x" * %d + "end\\n")
sys.stderr.write("a warning\\n")
leave(%s)
"""


def _code(sentinel, status, size=100000):
    # 100,000 bytes: more than a pipe takes at once.
    return CODE % (LIB, str(sentinel), size, status)


def _run(tmp_path, code="3", **kw):
    sentinel = tmp_path / "shut-down"
    out = subprocess.run([sys.executable, "-c", _code(sentinel, code)],
                         capture_output=True, timeout=60, **kw)
    return out, sentinel


def test_leave_exits_with_the_status_and_every_byte_written(tmp_path):
    out, sentinel = _run(tmp_path)
    assert out.returncode == 3
    assert out.stdout == b"x" * 100000 + b"end\n"
    assert out.stderr == b"a warning\n"
    assert not sentinel.exists()  # no shut-down: leave() ended the process


def test_the_same_program_without_leave_runs_the_shut_down(tmp_path):
    # The check above can fail: the sentinel is written by a shut-down.
    out, sentinel = _run(tmp_path, code="3) if False else sys.exit(3")
    assert out.returncode == 3 and sentinel.exists()


def test_output_nobody_reads_any_more_fails_the_command_quietly(tmp_path):
    r, w = os.pipe()
    os.close(r)  # the reader went away, as `gqstat | head -0`
    try:
        # Still in the buffer when leave() flushes it.
        env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
        out = subprocess.run([sys.executable, "-c", _code(tmp_path / "s", "0", size=10)],
                             stdout=w, stderr=subprocess.PIPE, timeout=60, env=env)
    finally:
        os.close(w)
    assert out.returncode == 1
    assert b"Exception ignored" not in out.stderr and b"Traceback" not in out.stderr, out.stderr


def test_a_status_that_is_not_a_number_is_a_failure(tmp_path):
    out, _ = _run(tmp_path, code="'bad'")
    assert out.returncode == 1


def test_no_status_is_success_as_with_systemexit(tmp_path):
    out, _ = _run(tmp_path, code="None")
    assert out.returncode == 0


def test_output_that_a_full_disk_refuses_fails_the_command_with_one_line(tmp_path):
    # /dev/full: every write fails with ENOSPC, as on a full disk.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    with open("/dev/full", "w") as full:
        out = subprocess.run([sys.executable, "-c", _code(tmp_path / "s", "0", size=10)],
                             stdout=full, stderr=subprocess.PIPE, timeout=60, env=env)
    assert out.returncode == 1
    lines = out.stderr.decode().splitlines()
    assert lines[0] == "a warning"
    assert lines[1:] == ["-c: cannot write its output: No space left on device"]
