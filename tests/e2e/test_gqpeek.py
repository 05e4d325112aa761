"""gqpeek (FEATURES.md §3): printing and following a job's output.

* ``-f`` shows lines as the job writes them (the first five arrive while
  the job is still running, and arrivals are spread out; checked without
  PYTHONUNBUFFERED, so gqpeek's own flushing is what counts) and exits with
  the job's exit value.
* ``-n N`` the last N lines; ``-e`` stderr; ``-a`` both, and while
  following interleaved in the order they were written.
* A queued job is reported on stderr; with ``-f`` gqpeek waits for it to
  start and then follows it.  An ended job with ``-f`` prints everything
  and exits with its value at once.  Unknown id: exit 1.
"""

import os
import queue
import subprocess
import threading
import time


ENDED = ("finished", "failed")




def _spawn(gsat, procs, *argv):
    # Without PYTHONUNBUFFERED (set in some CI and IDE environments, not in
    # a user's shell) so that only gqpeek's own flushing makes output appear
    # while the job runs.
    env = {k: v for k, v in gsat.env.items() if k != "PYTHONUNBUFFERED"}
    p = subprocess.Popen(
        list(argv), env=env, cwd=gsat.jobs, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    procs.append(p)
    gsat.extra_pids.append(p.pid)
    return p


class Lines:
    """Lines of a pipe with their arrival times, read by a thread so that a
    missing line fails the test after a timeout instead of hanging it."""

    def __init__(self, stream):
        self.queue = queue.Queue()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream):
        for line in stream:
            self.queue.put((time.monotonic(), line.rstrip("\n")))
        self.queue.put(None)

    def get(self, timeout=30):
        """(arrival time, line), or None at the end of the stream."""
        try:
            return self.queue.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("no line from gqpeek within %s s" % timeout)


def _gate(gsat, name):
    return 'while [ ! -e "%s" ]; do sleep 0.05; done\n' % os.path.join(gsat.jobs, name)


def _open_gate(gsat, name):
    with open(os.path.join(gsat.jobs, name), "w"):
        pass


def test_follow_shows_lines_as_they_come_and_exits_with_job_value(gsat, procs):
    gsat.start()
    a = gsat.qsub(gsat.job("lines.job", _gate(gsat, "go") + (
        "for i in $(seq 20); do echo line $i; sleep 0.1; done\n"
        "exit 5\n")))
    gsat.wait_state(a, "running")
    p = _spawn(gsat, procs, "gqpeek", "-f", a)
    _open_gate(gsat, "go")
    out = Lines(p.stdout)
    lines, arrivals, job_states = [], [], []
    while len(lines) <= 20:
        got = out.get()
        if got is None:
            break
        arrivals.append(got[0])
        lines.append(got[1])
        job_states.append((gsat.state(a), gsat.attr(a, "job.exit")))
    assert p.wait(timeout=60) == 5
    assert p.stderr.read() == ""
    assert lines == ["line %d" % i for i in range(1, 21)]
    # Each of the first five lines was shown while the job still had at
    # least 1.5 s of output to write (whatever gqpeek read at its start may
    # be one of them, so one early line alone proves nothing), and the lines
    # did not come in one burst at the end.
    assert job_states[:5] == [("running", "")] * 5
    assert arrivals[-1] - arrivals[0] > 0.5


def test_last_lines_stderr_and_both(gsat):
    gsat.start()
    a = gsat.qsub(gsat.job("out.job", (
        "for i in 1 2 3 4 5; do echo out $i; done\n"
        "echo err 1 >&2; echo err 2 >&2; echo err 3 >&2\n"
        "exit 0\n")))
    assert gsat.wait_state(a, ENDED) == "finished"

    def peek(*argv):
        p = gsat.run("gqpeek", *argv)
        assert (p.returncode, p.stderr) == (0, ""), argv
        return p.stdout

    assert peek(a) == "".join("out %d\n" % i for i in range(1, 6))
    assert peek("-o", a) == peek(a)
    assert peek("-n", "2", a) == "out 4\nout 5\n"
    assert peek("-e", a) == "err 1\nerr 2\nerr 3\n"
    assert peek("-e", "-n", "1", a) == "err 3\n"
    both = peek("-a", a)
    assert sorted(both.splitlines()) == sorted(["out %d" % i for i in range(1, 6)] + ["err 1", "err 2", "err 3"])
    assert len(both.splitlines()) == 8
    # An ended job followed: everything, then its exit value at once.
    p = gsat.run("gqpeek", "-f", a, timeout=30)
    assert (p.returncode, p.stdout) == (0, peek(a))


def test_follow_both_streams_in_written_order(gsat, procs):
    gsat.start()
    # Each line waits for the test to have seen the previous one, so the
    # order on gqpeek's stdout can only come from following both files.
    body = _gate(gsat, "go")
    steps = [("out", "o1"), ("err", "e1"), ("out", "o2"), ("err", "e2")]
    for n, (stream, text) in enumerate(steps):
        body += "echo %s%s\n" % (text, " >&2" if stream == "err" else "")
        body += _gate(gsat, "step%d" % n)
    body += "exit 3\n"
    a = gsat.qsub(gsat.job("mixed.job", body))
    gsat.wait_state(a, "running")
    p = _spawn(gsat, procs, "gqpeek", "-a", "-f", a)
    _open_gate(gsat, "go")
    out = Lines(p.stdout)
    seen = []
    for n in range(len(steps)):
        got = out.get()
        seen.append(got and got[1])
        _open_gate(gsat, "step%d" % n)
    assert seen == [text for _, text in steps]
    assert p.wait(timeout=60) == 3
    assert out.get() is None


def test_queued_job_reported_and_followed_once_started(gsat, procs):
    gsat.start()  # fifo, one slot: b waits behind a
    a = gsat.qsub(gsat.job("a.job", _gate(gsat, "go")))
    b = gsat.qsub(gsat.job("b.job", "echo hello from b\nexit 2\n"))
    gsat.wait_state(a, "running")
    assert gsat.state(b) == "queued"
    p = gsat.run("gqpeek", b)
    assert (p.returncode, p.stdout) == (0, "")
    assert "queued" in p.stderr
    follower = _spawn(gsat, procs, "gqpeek", "-f", b)
    # The message comes before the job can start.
    out, err = Lines(follower.stdout), Lines(follower.stderr)
    got = err.get()
    assert got is not None and "queued" in got[1]
    assert gsat.state(b) == "queued"
    _open_gate(gsat, "go")
    assert follower.wait(timeout=60) == 2
    assert out.get()[1] == "hello from b"
    assert out.get() is None
    assert err.get() is None


def test_unknown_id(gsat):
    gsat.start()
    for text in ("99999", "nonsense"):
        p = gsat.run("gqpeek", text)
        assert (p.returncode, p.stdout) == (1, "")
        assert 'Invalid job id "%s"!' % text in p.stderr
    p = gsat.run("gqpeek", "-f", "99999")
    assert p.returncode == 1
