"""The controller's reach into the operating system, as one object.

Everything the controller does to processes goes through a :class:`System`:
starting a job's sputnik, asking whether a PID lives, running a detached
child (per-job mail), reaping children, waking itself from a worker thread,
and starting or stopping the signal forwarder.  Unit tests pass a fake that
records the calls (as Supervisor's ``DummyOptions``), so the controller's
logic is tested without real processes.
"""

import os
import signal

from .. import proc


class System:
    def launch_sputnik(self, job_path, job_id):
        """Start a detached sputnik for the job; returns its PID (OSError)."""
        from .. import sputnik

        return sputnik.launch(job_path, job_id)

    def alive(self, pid):
        return proc.alive(pid)

    def spawn(self, fn):
        """Run ``fn()`` in a detached child with no inherited descriptors."""

        def body():
            proc.close_fds()
            return fn()

        return proc.spawn_session(body)

    def reap(self):
        """Collect every child that has exited (sputniks, services, mailers)."""
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return

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
