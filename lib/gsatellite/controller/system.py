"""The controller's reach into the operating system, as one object.

Everything the controller does to processes goes through a :class:`System`:
starting a job's sputnik, asking which process a PID file names
(:mod:`gsatellite.pidref`: never a stranger that got a stale PID), running a
detached child (per-job mail), reaping children (and telling which ended
with what), waking itself from a worker thread, and starting or stopping
the signal forwarder.  Unit tests pass a fake that
records the calls (as Supervisor's ``DummyOptions``), so the controller's
logic is tested without real processes.
"""

import os
import signal
import traceback

from .. import pidref, proc
from ..log import log


class System:
    def launch_sputnik(self, job_path, job_id, adopt=False):
        """Start a detached sputnik for the job; returns its PID (OSError).
        ``adopt``: it supervises the job's running process instead of
        starting one."""
        from .. import sputnik

        return sputnik.launch(job_path, job_id, adopt)

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
        return pidref.find_named("sputnik %s" % job_id)

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

    def stop_forwarder(self):
        from .. import sigfwd

        sigfwd.stop()
