"""gqwait [--any] [--timeout SEC] ID...: block until jobs have ended.

Exit value: the job's exit value (128+N when it died of signal N); with
several ids the first non-zero one in argument order (0 if all are 0); with
``--any`` that of the first job to end.  124 on timeout, 1 for an unknown or
deleted job.  The wait reads a FIFO registered with the controller, so it
costs no CPU; Ctrl-C removes the FIFO and the registrations.
"""

import os
import select
import signal
import sys
import time

from .. import protocol as P
from .. import paths, states
from ..fsutil import read_first_line
from ..transport import request
from ..jobstore import canonical_id
from .common import info_option, EX_FAIL, EX_USAGE, Exit, controller_box, err, program, run

USAGE = "Usage: %s [--any] [--timeout SEC] jobId [jobId ...]\n"
EX_TIMEOUT = 124


def main(argv=None):
    return run(program(), wait, sys.argv[1:] if argv is None else argv)


def parse(prog, argv):
    any_, timeout, ids = False, None, []
    i = 0
    while i < len(argv):
        a = argv[i]
        info_option(a, prog, USAGE % prog + __doc__.split("\n\n", 1)[1])
        if a == "--any":
            any_ = True
        elif a in ("--timeout", "-t"):
            try:
                timeout = float(argv[i + 1])
            except (IndexError, ValueError):
                sys.stderr.write(USAGE % prog)
                raise Exit(EX_USAGE, "--timeout needs a number of seconds")
            i += 1
        elif a.startswith("-") and a != "-":
            sys.stderr.write(USAGE % prog)
            raise Exit(EX_USAGE, 'Unknown option "%s"!' % a)
        else:
            ids.append(a)
        i += 1
    if not ids:
        sys.stderr.write(USAGE % prog)
        raise Exit(EX_USAGE)
    return any_, timeout, ids


def ended_value(job_id):
    """Exit value of an ended job, None while it has not ended."""
    state = read_first_line(paths.job_file(job_id, "job.state"), "")
    if state not in states.ENDED:
        return None
    value = read_first_line(paths.job_file(job_id, "job.exit"), "")
    return int(value) if value.isdigit() else 1


def verdict(ids, results, any_):
    """The exit code once the wait is over, else None."""
    if any_:
        for job_id in ids:
            if job_id in results:
                return results[job_id]
        return None
    if len(results) < len(ids):
        return None
    for job_id in ids:
        if results[job_id]:
            return results[job_id]
    return 0


def wait(prog, argv):
    any_, timeout, given = parse(prog, argv)
    ids = []
    for text in given:
        job_id = canonical_id(text)
        if job_id is None or not os.path.isdir(paths.job_dir(job_id)):
            raise Exit(EX_FAIL, 'Invalid job id "%s"!' % text)
        ids.append(job_id)
    results = {}
    for job_id in ids:
        value = ended_value(job_id)
        if value is not None:
            results[job_id] = value
    done = verdict(ids, results, any_)
    if done is not None:
        return done
    box = controller_box(prog)
    return Waiter(prog, box, ids, results, any_, timeout).run()


class Waiter:
    def __init__(self, prog, box, ids, results, any_, timeout):
        self.prog, self.box, self.ids, self.results = prog, box, ids, results
        self.any, self.timeout = any_, timeout
        self.host = paths.hostname()
        self.fifo = paths.waiter_fifo(os.getpid())
        self.registered = []

    def run(self):
        signal.signal(signal.SIGTERM, _terminate)
        signal.signal(signal.SIGHUP, _terminate)
        _private_dir(os.path.dirname(self.fifo))
        try:
            os.unlink(self.fifo)
        except FileNotFoundError:
            pass
        os.mkfifo(self.fifo, 0o600)
        # O_RDWR: the open never blocks and read() never sees EOF between
        # writers, so select() sleeps until a line really arrives.
        fd = os.open(self.fifo, os.O_RDWR | os.O_NONBLOCK)
        try:
            return self._wait(fd)
        finally:
            os.close(fd)
            os.unlink(self.fifo)
            self._unregister()

    def _wait(self, fd):
        for job_id in self.ids:
            if job_id in self.results:
                continue
            # Counted as registered before the request: if we are interrupted
            # while waiting for the answer, the QUNWAIT must still be sent
            # (the controller handles its box in order).
            self.registered.append(job_id)
            try:
                answer = request.request(self.box, P.command(P.QWAIT, job_id, self.fifo, self.host))
            except request.RequestInterrupted as e:
                if e.unread:  # withdrawn unread: there is nothing to undo
                    self.registered.remove(job_id)
                raise
            if answer == P.OK:
                continue
            self.registered.remove(job_id)
            if answer.startswith(P.ENDED + " "):
                value = answer.split()[1]
                self.results[job_id] = int(value) if value.isdigit() else 1
            else:
                raise Exit(EX_FAIL, 'cannot wait for job "%s": %s' % (job_id, answer))
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        buf = b""
        while True:
            done = verdict(self.ids, self.results, self.any)
            if done is not None:
                return done
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                err(self.prog, "timed out")
                return EX_TIMEOUT
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                continue
            try:
                buf += os.read(fd, 4096)
            except BlockingIOError:
                continue
            *lines, buf = buf.split(b"\n")
            for line in lines:
                self._line(line.decode("utf-8", "replace"))

    def _line(self, line):
        words = line.split()
        if len(words) != 2 or words[0] not in self.ids:
            return
        job_id, value = words
        if job_id in self.registered:
            self.registered.remove(job_id)
        if value == "DELETED":
            raise Exit(EX_FAIL, "job %s was deleted" % job_id)
        self.results[job_id] = int(value) if value.isdigit() else 1

    def _unregister(self):
        """Withdraw what is still registered, so nothing is left once we exit
        (a controller that does not answer costs at most a few seconds)."""
        if not self.registered:
            return
        commands = [P.command(P.QUNWAIT, job_id, self.fifo, self.host) for job_id in self.registered]
        try:
            request.post(self.box, commands, timeout=5)
        except Exception:  # best-effort cleanup must never decide our exit code
            pass


def _terminate(signo, frame):
    raise SystemExit(128 + signo)


def _private_dir(d):
    """Create ``d`` as a private directory; refuse one we do not own."""
    try:
        os.mkdir(d, 0o700)
    except FileExistsError:
        pass
    st = os.lstat(d)
    import stat as st_mod

    if not st_mod.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
        raise Exit(EX_FAIL, "%s is not a private directory of this user; refusing to put a FIFO there" % d)
