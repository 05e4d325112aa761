"""The controller's reach into the operating system, as one object.

Everything the controller does to processes goes through a :class:`System`:
starting a job's sputnik (from the spare sputnik kept while jobs wait for a
slot, see :func:`gsatellite.sputnik.launch_spare`), asking which process a PID file names
(:mod:`gsatellite.pidref`: never a stranger that got a stale PID), running a
detached child (per-job mail), reaping children (and telling which ended
with what), waking itself from a worker thread, and starting or stopping
the signal forwarder.  Unit tests pass a fake that
records the calls (as Supervisor's ``DummyOptions``), so the controller's
logic is tested without real processes.
"""

import os
import select
import signal
import traceback

from .. import pidref, proc, roots
from ..log import log
from ..transport.base import Inbox

# Seconds between two starts of a forwarder that keeps dying.
HEAL_SECONDS = 10.0


# Where a sputnik the controller holds a socket to is in its life.
SPARE = "spare"  # forked in advance, has had no job yet
BUSY = "busy"  # supervises a job: its end is the job's business (reap)
ENDED = "ended"  # told its job's end; takes the next only once it says READY
LET_GO = "let go"  # its socket closed: it exits when done, nobody's supervisor


class Held:
    """A sputnik forked as a spare, from its fork until it is reaped: its
    end of the socket (None once let go), its state, whether it has said
    READY since its last job, and the start of a message not yet whole."""

    __slots__ = ("fd", "state", "ready", "buf")

    def __init__(self, fd, state):
        self.fd, self.state = fd, state
        self.ready, self.buf = False, b""
        if fd is not None:
            os.set_blocking(fd, False)  # the loop never waits on a sputnik


class SpareSockets(Inbox):
    """The sockets of the sputniks forked as spares, as one more inbox of
    the controller's loop (:meth:`System.spare_messages`): their STARTED,
    TERMINATED and HELD come there, the transport's way for the rest."""

    def __init__(self, system):
        self.system = system
        self.taken = []

    def receive(self):
        if not self.taken:
            try:
                self.taken = self.system.spare_messages()
            except Exception:  # never out of receive(): the loop would end
                log("reading the sputniks' sockets failed:\n%s" % traceback.format_exc())
        return self.taken.pop(0) if self.taken else None

    def close(self):
        pass  # the sockets are the System's


class System:
    def __init__(self):
        self.held = {}  # PID -> Held of every sputnik forked as a spare, until reaped
        self.spare = None  # PID of the one kept for the next start (SPARE or ENDED)
        self.unread = []  # messages read from the sockets, not yet handed out

    # -- the sputniks' messages on their sockets ------------------------------------
    def spare_messages(self):
        """The messages the sputniks wrote on their sockets (STARTED,
        TERMINATED, HELD of their jobs), as the transport would give them;
        never waits."""
        from .. import sputnik

        fds = {held.fd: pid for pid, held in self.held.items() if held.fd is not None}
        if fds:
            try:
                readable = select.select(list(fds), [], [], 0)[0]
            except (OSError, ValueError):
                readable = list(fds)
            for fd in readable:
                self._read(fds[fd], sputnik)
        found, self.unread = self.unread, []
        return found

    def _read(self, pid, sputnik):
        """Take what ``pid`` wrote on its socket into ``unread`` (and its
        READY).  A socket that ended or says what no sputnik writes is
        closed; a sputnik that supervises a job stays its supervisor (its
        end, reaped, is the controller's to judge), any other is let go."""
        held = self.held[pid]
        if held.fd is None:
            return
        ready, messages, held.buf, ok = sputnik.read_frames(held.fd, held.buf)
        held.ready = held.ready or ready > 0
        self.unread.extend(messages)
        if not ok:
            if held.state == BUSY:
                os.close(held.fd)
                held.fd = None
            else:
                self._let_go(pid, read=False)

    def state(self, pid):
        held = self.held.get(pid)
        return None if held is None else held.state

    def waiting(self):
        """PIDs of the sputniks that ended their job and wait, but the spare."""
        return [pid for pid, held in self.held.items() if held.state == ENDED and pid != self.spare]

    def launch_sputnik(self, job_path, job_id, adopt=False):
        """Start a detached sputnik for the job; returns its PID (OSError).
        ``adopt``: it supervises the job's running process instead of
        starting one.  A sputnik that ended its job and waits for the next
        takes it, else the spare, else a new one; each keeps its socket, so
        that it can take another job once this one has ended (:meth:`retire`)."""
        from .. import sputnik

        if adopt or not sputnik.fits(job_path, job_id):
            # A path too long for the socket: a sputnik that knows its job
            # from the start, and leaves when it has ended.
            return sputnik.launch(job_path, job_id, adopt, for_controller=True)
        while True:
            waiting = self.waiting()
            pid = waiting[-1] if waiting else self.spare
            if pid is None:
                break
            if self._assign(pid, job_path, job_id):
                return pid
        try:
            pid, fd = sputnik.launch_spare()
        except OSError:
            # No socket to be had (EMFILE: one is kept per running job): a
            # sputnik that knows its job from the start, as for a long path.
            return sputnik.launch(job_path, job_id, for_controller=True)
        self.held[pid] = Held(fd, SPARE)
        if self._assign(pid, job_path, job_id):
            return pid
        return sputnik.launch(job_path, job_id, for_controller=True)  # it died at once

    def _assign(self, pid, job_path, job_id):
        """Hand the job to ``pid``; False (and ``pid`` let go) if it cannot
        take it."""
        from .. import sputnik

        held = self.held[pid]
        if pid == self.spare:
            self.spare = None
        try:
            if held.state == ENDED and not held.ready:
                self._read(pid, sputnik)
            if held.fd is None or (held.state == ENDED and not held.ready):
                # Still busy after its job's end (a trigger --wait, a full
                # disk), or gone: let go, it exits once it is done.
                raise OSError("not ready")
            sputnik.assign(held.fd, job_path, job_id)
        except OSError:
            self._let_go(pid)
            return False
        held.state, held.ready = BUSY, False
        return True

    def _let_go(self, pid, read=True):
        """Close our end of ``pid``'s socket: it exits once it is done.
        What it wrote there is read first (``read``), not lost with it."""
        from .. import sputnik

        held = self.held[pid]
        if held.fd is not None:
            if read:
                self._read(pid, sputnik)
            if held.fd is not None:
                os.close(held.fd)
        held.fd, held.state = None, LET_GO
        if pid == self.spare:
            self.spare = None

    def retire(self, pid):
        """The sputnik ``pid`` has told the end of its job: if it came from
        a spare it now waits for the next job (:func:`..sputnik.serve_spare`),
        and is kept until the next scheduling pass."""
        held = self.held.get(pid)
        if held is not None and held.state == BUSY:
            held.state = ENDED

    def keep_spare(self, wanted):
        """Have a spare sputnik ready while ``wanted`` (jobs wait for a
        slot), none otherwise: it is forked while the controller has nothing
        else to do, so the next start costs no fork (:mod:`..sputnik`);
        a sputnik that ended its job serves if one waits.  The others that
        wait are let go.  Never raises: without a spare, jobs start as before."""
        if wanted and self.spare is None:
            waiting = self.waiting()
            if waiting:
                self.spare = waiting[-1]
            else:
                from .. import sputnik

                try:
                    pid, fd = sputnik.launch_spare()
                except OSError:
                    pass
                else:
                    self.held[pid] = Held(fd, SPARE)
                    self.spare = pid
        elif not wanted and self.spare is not None:
            # End-of-file on its socket: the spare exits.
            self._let_go(self.spare)
        for pid in self.waiting():
            self._let_go(pid)

    def alive(self, pid):
        return proc.alive(pid)

    def process(self, path, names=(), group=False):
        """The process the PID file ``path`` was written for, if it still
        runs (a :class:`pidref.ProcessRef`), else None."""
        return pidref.read_pid_file(path, names, group)

    def find_job_process(self, job_path):
        """The running job started from ``job_path`` (a session leader with
        it among its arguments), as a :class:`pidref.ProcessRef`, or None."""
        return pidref.find_session_leader(job_path)

    def half_started(self, job_id):
        """A process bearing the name of the job's sputnik: a job its
        sputnik began to start (until it runs its program it still bears
        that name); a :class:`pidref.ProcessRef` or None."""
        return pidref.find_named("sputnik %s" % job_id, roots.home())

    def ended_status(self, path):
        """Wait status of the ended, unreaped process of PID file ``path``."""
        return pidref.ended_status(path)

    def spawn(self, fn):
        """Run ``fn()`` in a detached child with no inherited descriptors."""

        def body():
            proc.close_fds()
            return fn()

        return proc.spawn_session(body)

    def reap(self, ended):
        """Collect every child that has exited (sputniks, services, mailers,
        jobs whose sputnik died: we are their subreaper), calling
        ``ended(pid, exit value)`` for each before it is reaped: what that
        records is on disk while the status is still kept by the kernel."""
        while True:
            found = proc.peek_ended_child()
            if found is None:
                return
            pid = found[0]
            held = self.held.get(pid)
            if held is not None:
                state = held.state
                # What it wrote before it exited is handled, not lost with
                # the socket (a TERMINATED of a sputnik that was not kept).
                self._let_go(pid)
                del self.held[pid]
                if state != BUSY:
                    # A spare, or one that ended its job: nobody's supervisor.
                    proc.reap_child(pid)
                    continue
            try:
                ended(*found)
            except Exception:
                log("recording the end of child %d failed:\n%s" % (found[0], traceback.format_exc()))
            # Reaped even so: an unreaped child would come back at every look.
            proc.reap_child(found[0])

    def wake(self, pid):
        """Wake a sleeping daemon loop (safe from any thread: the signal is
        blocked everywhere and taken by the loop's sigtimedwait)."""
        os.kill(pid, signal.SIGCONT)

    def become_subreaper(self):
        proc.become_subreaper()

    def start_forwarder(self):
        from .. import sigfwd

        sigfwd.ensure_running()

    healed_at = None

    def heal_forwarder(self, now=None):
        """Start this host's forwarder again if it died (kill -9), without
        waiting for it: the liveness timer looks again.  At most one start
        every ``HEAL_SECONDS``, so a forwarder that cannot start at all
        costs a process now and then, not one per tick."""
        import time

        from .. import sigfwd

        now = time.monotonic() if now is None else now
        if self.healed_at is not None and now - self.healed_at < HEAL_SECONDS:
            return
        if sigfwd.ensure_running(wait=False) is None:
            self.healed_at = now

    def stop_forwarder(self):
        from .. import sigfwd

        sigfwd.stop()
