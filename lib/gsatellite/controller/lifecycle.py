"""A job's life in the controller: scheduling, start, end, and recovery.

Every state change goes through :meth:`JobStore.transition`, which emits
the event subscribers react to (services, mail, waiters).  Processes are
started through ``self.system`` (:mod:`.system`), time comes from
``self.now()``.

Scheduling runs after each batch of messages (``need_schedule``), so a burst
of submissions is answered first and started afterwards.
"""

import os
import traceback

from .. import conditions, events, jobtypes, paths, states, waiters
from .. import protocol as P
from ..fsutil import unlink_quiet
from ..log import log


class Lifecycle:
    """Mixin of the Controller: uses ``store``, ``system``, ``scheduler``,
    ``slots``, ``max_restarts``, ``unconditional``, ``host``, ``now``."""

    need_schedule = True
    # Wall-clock time of the earliest deferred start (-a), or None.
    next_timer = None

    def schedule(self):
        """Start what the scheduler picks among the queued jobs that may start.

        Deferred and dependent jobs stay queued with a reason in
        ``job.reason``; one whose dependency can never be met, or whose
        stored condition cannot be used, fails.  The earliest deferred start
        time becomes ``next_timer``.
        """
        self.next_timer = None
        queued = self.store.ids(states.QUEUED)
        # Jobs that left the queue are forgotten, so the set stays as small
        # as the queue however many jobs have ended.
        self.unconditional.intersection_update(queued)
        if not queued:
            return
        now = self.now()
        startable = []
        for job_id in queued:
            if job_id in self.unconditional:
                startable.append(job_id)
                continue
            try:
                if self.check_conditions(job_id, now):
                    startable.append(job_id)
            except Exception as e:  # one job's bad files must not stop the others
                self.fail_unusable(job_id, e)
        if not startable:
            return
        running = len(self.store.ids(states.RUNNING))
        for job_id in self.scheduler.pick(startable, running, self.slots):
            self.start_job(job_id)

    def check_conditions(self, job_id, now):
        """True if ``job_id`` may start now; else records why not (and fails
        a job that can never start)."""
        verdict, reason = conditions.blocked(self.store, job_id, now)
        if verdict is None:
            # A met condition stays met (ended jobs stay ended, time only
            # moves on), so it need not be read again.
            self.unconditional.add(job_id)
            return True
        if self.store.read(job_id, "job.reason", "") != reason:
            self.store.write(job_id, "job.reason", reason)
        if verdict == "never":
            log("job %s can never start: %s" % (job_id, reason))
            self.store.transition(job_id, states.FAILED, events.JOB_ABORT, reason=reason)
            self.need_schedule = True
            return False
        after = conditions.start_after(self.store, job_id)
        if after is not None and after > now:
            self.next_timer = after if self.next_timer is None else min(self.next_timer, after)
        return False

    def fail_unusable(self, job_id, error):
        """A queued job whose files make the start check fail: it fails with
        the reason, and the controller carries on."""
        reason = "cannot check start conditions: %s" % (error,)
        log("job %s: %s\n%s" % (job_id, reason, traceback.format_exc()))
        try:
            self.store.write(job_id, "job.reason", reason)
            self.store.transition(job_id, states.FAILED, events.JOB_ABORT, reason=reason)
        except Exception as e:
            log("job %s: cannot mark it failed: %s" % (job_id, e))

    def start_job(self, job_id):
        job_path = self.store.job_path(job_id)
        if not job_path or not os.path.isfile(job_path):
            log("job %s: job file %r missing; failed" % (job_id, job_path))
            self.store.write(job_id, "job.exit", 127)
            self.store.transition(job_id, states.FAILED)
            return
        self.store.write(job_id, "job.execHost", self.host)
        # Files of an earlier run (held, restarted) must not be mistaken for
        # this run's by recover(): no sputnik.pid means "never launched".
        for stale in ("job.reason", "sputnik.pid", "job.exit"):
            unlink_quiet(paths.job_file(job_id, stale))
        self.store.transition(job_id, states.RUNNING)
        try:
            pid = self.system.launch_sputnik(job_path, job_id)
            log("job %s: sputnik %s" % (job_id, pid))
        except OSError as e:
            log("job %s: cannot start sputnik: %s" % (job_id, e))
            self.store.write(job_id, "job.exit", 126)
            self.store.transition(job_id, states.FAILED)

    def job_ended(self, job_id, value, recovered=False):
        """The job's process ended with ``value``: run it again if its job
        type says so (up to ``max_restarts``), else it is finished or failed."""
        job_type = jobtypes.get(self.store.read(job_id, "job.type", jobtypes.DEFAULT))
        if job_type.evaluate(value) == P.RESTART:
            restarts = self.store.read(job_id, "job.restarts", "0").strip()
            restarts = int(restarts) if restarts.isdigit() else 0
            if restarts < self.max_restarts:
                self.store.write(job_id, "job.restarts", restarts + 1)
                log("job %s: restart %d of %d" % (job_id, restarts + 1, self.max_restarts))
                self.store.transition(job_id, states.HELD, events.JOB_TERMINATION,
                                      exit_value=value, restart=True, recovered=recovered)
                # Scheduled while held, so that the jobs queued behind it
                # get their turn before the restart.
                self.schedule()
                self.store.transition(job_id, states.QUEUED)
                self.need_schedule = True
                return
        final = states.FINISHED if value == 0 else states.FAILED
        self.store.transition(job_id, final, events.JOB_TERMINATION, exit_value=value, recovered=recovered)
        self.need_schedule = True

    def exit_value(self, job_id):
        value = (self.store.read(job_id, "job.exit", "") or "").strip()
        return int(value) if value.isdigit() else 1

    def recover(self):
        """At start-up: repair the store, tell waiters what they missed, and
        account for running jobs whose sputnik is gone."""
        for line in self.store.reconcile():
            log("store repaired: " + line)
        for state in states.ENDED:
            for job_id in self.store.ids(state):
                if waiters.registrations(job_id):
                    self.bus.emit(events.JOB_STATE, job_id, old=state, new=state)
        for job_id in self.store.ids(states.RUNNING):
            spid = (self.store.read(job_id, "sputnik.pid", "") or "").strip()
            host = (self.store.read(job_id, "job.execHost", "") or "").strip()
            if host != self.host or (spid.isdigit() and self.system.alive(int(spid))):
                continue  # still supervised; its sputnik will report the end
            value = (self.store.read(job_id, "job.exit", "") or "").strip()
            starts = len((self.store.read(job_id, "job.start", "") or "").split())
            stops = len((self.store.read(job_id, "job.stop", "") or "").split())
            if not spid:
                log("job %s was marked running but never launched; queued again" % job_id)
                self.store.transition(job_id, states.QUEUED)
            elif value.isdigit() and stops >= starts > 0:
                log("job %s ended while no controller ran (exit %s)" % (job_id, value))
                self.job_ended(job_id, int(value), recovered=True)
            else:
                log("job %s: its sputnik is gone and no exit was recorded; failed" % job_id)
                self.store.write(job_id, "job.reason", "supervisor lost, no exit value recorded")
                self.store.transition(job_id, states.FAILED)

