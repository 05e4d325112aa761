"""Watching jobs: waiting for their ends (gqwait) and reading their output
(gqpeek).

A wait costs no CPU: it registers a FIFO with the controller (``QWAIT``)
and sleeps in ``select`` until the controller writes a line into it.  Every
registration still held when the wait ends, however it ends, is withdrawn
(``QUNWAIT``), so nothing is left behind.

Across hosts (issue 17) the line comes through this host's signal
forwarder, so a wait for a controller elsewhere first starts the forwarder
if none runs.  Every ``RECHECK`` seconds the wait also reads its jobs'
states from the store and starts the forwarder again if it died: a notice
that could not be delivered (the controller's host was lost, or stopped
and its successor runs elsewhere) never leaves gqwait waiting for ever.
"""

import os
import time

from .. import liveness, paths
from ..fsutil import unlink_quiet
from .. import protocol as P
from .errors import EX_FAIL, EX_INTERRUPTED, ClientError, InvalidJobId, JobDeleted, NoAnswer, TimedOut
from .listing import find_job
from .operations import POLL, _ask, classic_controller, controller, heal_forwarder
from ..protocol import digits

# Seconds between two looks at the store while waiting for a notice.
RECHECK = 5.0


def verdict(ids, results, any_):
    """The exit value once the wait is over, else None: with ``any_`` that
    of the first job (in ``ids`` order) that ended; else the first non-zero
    one once all have ended."""
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


def wait(texts, any_=False, timeout=None):
    """Wait until the jobs named by ``texts`` have ended (one of them with
    ``any_``); return the exit value (see :func:`verdict`).

    Raises :class:`TimedOut` when ``timeout`` seconds pass first,
    :class:`InvalidJobId`, :class:`JobDeleted`, :class:`NotRunning`
    (only when a job has not ended yet) and :class:`NoAnswer`.
    """
    jobs = [find_job(text) for text in texts]
    ids = [j.id for j in jobs]
    results = {j.id: j.exit_value() for j in jobs if j.exit_value() is not None}
    done = verdict(ids, results, any_)
    if done is not None:
        return done
    return _Waiter(controller(), ids, results, any_, timeout).run()


class _Waiter:
    def __init__(self, info, ids, results, any_, timeout):
        self.info, self.ids, self.results = info, ids, results
        self.any, self.timeout = any_, timeout
        self.host = paths.hostname()
        self.fifo = None
        self.registered = []
        self.unregistered = set()  # jobs no controller took a QWAIT for yet

    def run(self):
        # Checked, never trusted by name: another local user may own the
        # usual directory (paths.private_runtime_dir).
        directory, temporary = paths.private_runtime_dir()
        self.fifo = paths.waiter_fifo(os.getpid(), directory)
        try:
            try:
                os.unlink(self.fifo)  # a FIFO of a dead gqwait with our PID
            except FileNotFoundError:
                pass
            os.mkfifo(self.fifo, 0o600)
            # O_RDWR: the open never blocks and read() never sees EOF between
            # writers, so select() sleeps until a line really arrives.
            fd = os.open(self.fifo, os.O_RDWR | os.O_NONBLOCK | os.O_NOFOLLOW)
            try:
                return self._wait(fd)
            finally:
                os.close(fd)
                self._unregister()
        finally:
            unlink_quiet(self.fifo)
            if temporary:
                try:
                    os.rmdir(directory)
                except OSError:
                    pass

    def _wait(self, fd):
        import select

        heal_forwarder(self.info, wait=True)
        for job_id in self.ids:
            if job_id not in self.results:
                self._register(job_id)
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        buf = b""
        while True:
            done = verdict(self.ids, self.results, self.any)
            if done is not None:
                return done
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise TimedOut()
            ready, _, _ = select.select([fd], [], [], RECHECK if left is None else min(left, RECHECK))
            if not ready:
                self._recheck()
                continue
            try:
                buf += os.read(fd, 4096)
            except BlockingIOError:
                continue
            *lines, buf = buf.split(b"\n")
            for line in lines:
                self._line(line.decode("utf-8", "replace"))

    def _register(self, job_id):
        # Counted as registered before the request: if we are interrupted
        # while waiting for the answer, the QUNWAIT must still be sent
        # (the controller handles its box in order).
        self.registered.append(job_id)
        try:
            answer = _ask(self.info, P.QWAIT, job_id, self.fifo, self.host)
        except NoAnswer as e:
            if e.withdrawn:
                self.registered.remove(job_id)
            if e.exit_code == EX_INTERRUPTED:
                raise
            # The controller went away (its host lost, a takeover) or is
            # stuck: the store tells the end, and the next controller that
            # answers gets the registration (_recheck).
            self.unregistered.add(job_id)
            return
        self.unregistered.discard(job_id)
        if answer == P.OK:
            return
        self.registered.remove(job_id)
        if answer.startswith(P.ENDED + " "):
            value = answer.split()[1]
            self.results[job_id] = int(value) if digits(value) else 1
        elif answer == P.UNKNOWN:
            # A classic controller: it cannot tell anyone about an end.
            raise classic_controller(self.info, "gqwait's request (QWAIT); run this installation's gsatlc to wait for jobs")
        else:
            raise ClientError('cannot wait for job "%s": %s' % (job_id, answer))

    def _recheck(self):
        """What the store says of the jobs not heard of yet, and this host's
        forwarder back if it died (a notice may be kept for it)."""
        for job_id in self.ids:
            if job_id in self.results:
                continue
            try:
                target = find_job(job_id)
            except InvalidJobId:
                raise JobDeleted(job_id) from None
            value = target.exit_value()
            if value is not None:
                if job_id in self.registered:
                    self.registered.remove(job_id)
                self.results[job_id] = value
        info = liveness.controller()
        if info is None:
            return
        heal_forwarder(info)
        self.info = info
        for job_id in sorted(self.unregistered):
            if job_id not in self.results and job_id in self.unregistered:
                self._register(job_id)

    def _line(self, line):
        parsed = P.parse_fifo_line(line)
        if parsed is None or parsed[0] not in self.ids:
            return
        job_id, value = parsed
        if job_id in self.registered:
            self.registered.remove(job_id)
        if value == P.DELETED:
            raise JobDeleted(job_id)
        self.results[job_id] = value

    def _unregister(self):
        """Withdraw what is still registered, so nothing is left once we exit
        (a controller that does not answer costs at most a few seconds)."""
        if not self.registered:
            return
        from .. import transport
        from ..transport import request

        commands = [P.command(P.QUNWAIT, job_id, self.fifo, self.host) for job_id in self.registered]
        try:
            request.post(transport.process_address(self.info[1], self.info[0]), commands, timeout=5)
        except BaseException:  # best-effort cleanup must never decide the outcome
            pass


# -- output ---------------------------------------------------------------------------

def tail_bytes(data, n):
    """The last ``n`` lines of ``data`` (all of it when ``n`` is None)."""
    if n is None:
        return data
    if n == 0:
        return b""
    parts = data.split(b"\n")
    if parts and parts[-1] == b"":
        parts = parts[:-1]
        return b"\n".join(parts[-n:]) + b"\n"
    return b"\n".join(parts[-n:])


class Peek:
    """A job's output: ``streams`` is ``("stdout",)``, ``("stderr",)`` or both.

    :meth:`read` returns what is there now (its last ``lines`` lines), of
    the current run, or of the earlier run ``run`` (:mod:`gsatellite.runs`);
    :meth:`follow` then yields new output until the job ends, after which
    ``exit_value`` holds the job's exit value.  A new run's output is
    followed from its start.  Output is streamed in chunks, never held whole.
    """

    # Bytes per read while following: a burst of output is passed on in
    # pieces, never read whole.
    job_chunk = 1 << 20

    def __init__(self, text, streams=("stdout",), lines=None, poll=POLL, run=None):
        self.job = find_job(text)
        self.streams, self.lines, self.poll = tuple(streams), lines, poll
        self.offsets = {}
        self.files = {}  # stream -> (device, inode) of the file read so far
        self.exit_value = None
        self.run = None
        if run is not None and run != self.current_run():
            if run not in self.earlier_runs():
                raise ClientError("job %s has no run %d (runs: 1 to %d)" % (self.id, run, self.current_run()))
            self.run = run

    @property
    def id(self):
        return self.job.id

    def earlier_runs(self):
        from .. import runs

        return runs.earlier(self.job.dir)

    def current_run(self):
        """The number of the run ``job.stdout`` holds (1 for the first)."""
        kept = self.earlier_runs()
        return kept[-1] + 1 if kept else 1

    def queued(self):
        from .. import states

        return self.job.reload().state == states.QUEUED

    def wait_started(self, sleep=time.sleep):
        while self.queued():
            sleep(self.poll * 4)

    def chunks(self):
        """What is there now (its last ``lines`` lines), in chunks."""
        for stream in self.streams:
            try:
                self.files[stream] = self.job.output_id(stream, self.run)
                end = self.job.output_size(stream, self.run)
                self.offsets[stream] = end
                yield from self.job.output_chunks(stream, self.lines, end, self.run)
            except OSError as e:
                raise _unreadable(self.job, e)

    def read(self):
        return b"".join(self.chunks())

    def follow(self, sleep=time.sleep):
        while True:
            self.job.reload()
            ended = self.job.ended()
            if not self.job.exists():
                raise JobDeleted(self.job.id)
            problem = self.job.damage()
            if problem is not None:
                raise ClientError("job %s is damaged (%s); cannot follow it" % (self.job.id, problem))
            for stream in self.streams:
                now = self.job.output_id(stream, self.run)
                if now is not None and self.files.get(stream) not in (None, now):
                    self.offsets[stream] = 0  # a new run: its file replaced the one we read
                self.files[stream] = now or self.files.get(stream)
                while True:
                    offset = self.offsets.get(stream, 0)
                    try:
                        data = self.job.read_output(stream, offset, self.job_chunk, self.run)
                    except OSError as e:
                        raise _unreadable(self.job, e)
                    if not data:
                        break
                    self.offsets[stream] = offset + len(data)
                    yield data
                    if len(data) < self.job_chunk:
                        break
            if ended:
                value = self.job.exit
                self.exit_value = value if value is not None else EX_FAIL
                return
            sleep(self.poll)


def _unreadable(job, e):
    from ..fsutil import NO_ROOM

    if e.errno in NO_ROOM:
        return e
    name = os.path.basename(e.filename) if isinstance(e.filename, str) else "its output"
    return ClientError("job %s: cannot read %s: %s" % (job.id, name, e.strerror or e))
