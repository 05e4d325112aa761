"""A job's life in the controller: scheduling, start, end, and recovery.

Every state change goes through :meth:`JobStore.transition`, which emits
the event subscribers react to (services, mail, waiters).  Processes are
started through ``self.system`` (:mod:`.system`), time comes from
``self.now()``.

Scheduling runs after each batch of messages (``need_schedule``), so a burst
of submissions is answered first and started afterwards.

A lost supervisor is noticed at once: a sputnik we started is our child
(SIGCHLD); one a previous controller started is watched by its start time
(:mod:`gsatellite.pidref`) every ``WATCH_INTERVAL``.  Once the boxes are
empty (what it sent before dying has been handled), :meth:`account_lost`
looks at its job if it still counts as running: an exit recorded for the
run ends it with that value; a process still running is supervised again by
a new sputnik that adopts it; an exit we reaped ourselves (we are the
subreaper of a dead sputnik's job) is recorded and ends it; otherwise it
fails with the reason in ``job.reason``.
"""

import os
import traceback

from .. import conditions, events, jobtypes, paths, pidref, proc, runs, staging, states, waiters
from ..fsutil import unlink_quiet, write_atomic
from ..log import log
from ..protocol import digits

# Seconds between looks at the sputniks a previous controller started.
WATCH_INTERVAL = 0.5
# Exit values of children we did not start that are kept for account_lost.
ORPHAN_EXITS = 1024
# A job whose sputnik dies before the job started is queued again, or one
# that still runs adopted by a new sputnik, this often.
LOST_AGAIN = 3
# "RUN RESTARTS" while a restart is under way: the end of run number RUN
# (lines of job.start) was counted as restart RESTARTS.
RESTARTING = "job.restarting"
LOST = "supervisor lost, no exit value recorded"
# What an earlier run of a job leaves that must go before it starts again.
STALE = frozenset(name + suffix for name in ("job.reason", "sputnik.pid", "job.exit", "job.pid")
                  for suffix in ("", pidref.SIDECAR))
ADOPT_FAILED = "supervisor lost again and again; the job's processes were left running"


class Lifecycle:
    """Mixin of the Controller: uses ``store``, ``system``, ``scheduler``,
    ``slots``, ``max_restarts``, ``unconditional``, ``host``, ``now``."""

    need_schedule = True
    # Wall-clock time of the earliest deferred start (-a), or None.
    next_timer = None
    # Jobs that may start wait for a slot: a spare sputnik is worth having.
    spare_wanted = False
    # A job found in queued/ that its job.state says is not queued was left
    # out, and its links were repaired: the pass is made again.
    relisted = False
    # Job id -> (line, when) of the last "in queued/ but" line logged for
    # it: a queued/ entry that cannot be removed is met at every pass.
    STRAY_RETELL = 3600.0
    stray_told = None

    def schedule(self):
        """Start what the scheduler picks among the queued jobs that may start.

        Deferred and dependent jobs stay queued with a reason in
        ``job.reason``; one whose dependency can never be met, or whose
        stored condition cannot be used, fails.  The earliest deferred start
        time becomes ``next_timer``.
        """
        self._schedule_pass()
        while self.relisted:
            self.relisted = False
            self._schedule_pass()

    def _schedule_pass(self):
        self.next_timer = None
        self.spare_wanted = False
        queued = self.store.queued_ids()
        # Jobs that left the queue are forgotten, so the set stays within
        # twice the queue however many jobs have ended (a job's met
        # conditions stay met, so one that comes back may stay in it).
        if len(self.unconditional) > 2 * len(queued) + 64:
            self.unconditional.intersection_update(queued)
        if self.stray_told:
            for job_id in set(self.stray_told).difference(queued):
                del self.stray_told[job_id]
        if not queued:
            return
        now = self.now()
        if self.unconditional.issuperset(queued):
            # Every queued job is known free of start conditions: no look
            # at each, a loop as long as the queue at every pass.
            startable = queued
        else:
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
        picked = list(self.scheduler.pick(startable, running, self.slots))
        self.spare_wanted = len(startable) > len(picked)
        for job_id in picked:
            if not self.still_queued(job_id):
                continue
            # A job whose proxy would end soon is held, not started to fail.
            if not self.proxy_blocks_start(job_id):
                self.start_job(job_id)

    def still_queued(self, job_id):
        """True when the job, found in queued/, is queued by its job.state
        too.  Otherwise the link is one another writer left (a controller
        taken for lost that went on for a moment, a hand edit): started, a
        finished job would run again, judged, it might be failed.  The
        job's links are repaired (logged), and the pass is made again once
        the job is out of the listing (no longer in queued/, or put aside
        as damaged by the failed repair).  A job.state the repair sets to
        queued is queued."""
        state = self.store.state(job_id)
        if state == states.QUEUED:
            self._stray_gone(job_id)
            return True
        if (state is None and not os.path.lexists(paths.state_link(states.QUEUED, job_id))
                and not self.store.exists(job_id)):
            # Removed by hand since the kept listing was made: nothing to
            # repair or tell; the pass is made again without it.
            self.store.forget_queued()
            self.unconditional.discard(job_id)
            self.relisted = True
            return False
        try:
            repaired = self.store.repair(job_id)
        except OSError as e:
            repaired = "cannot repair it: %s" % (e.strerror or e)
        self._tell_stray(job_id, "job %s: in queued/ but its job.state says %s (%s)" % (job_id, state, repaired))
        if self.store.state(job_id) == states.QUEUED:
            self._stray_gone(job_id)  # repaired: the next stray is news
            return True
        # A job taken for startable is picked at every pass: once it is
        # out of that set, a listing it cannot leave (an entry in queued/
        # we cannot remove) no longer takes a slot.
        was_startable = job_id in self.unconditional
        self.unconditional.discard(job_id)
        if (was_startable or job_id in self.store.damaged
                or not os.path.lexists(paths.state_link(states.QUEUED, job_id))):
            self.relisted = True
        return False

    def _tell_stray(self, job_id, line):
        # Once per job and line (and hourly while it stays): an entry in
        # queued/ that cannot be removed would log a line at every pass.
        if self.stray_told is None:
            self.stray_told = {}
        now = self.clock()
        told = self.stray_told.get(job_id)
        if told is not None and told[0] == line and now - told[1] < self.STRAY_RETELL:
            return
        self.stray_told[job_id] = (line, now)
        log(line)

    def _stray_gone(self, job_id):
        if self.stray_told:
            self.stray_told.pop(job_id, None)

    def check_conditions(self, job_id, now):
        """True if ``job_id`` may start now; else records why not (and fails
        a job that can never start)."""
        verdict, reason = conditions.blocked(self.store, job_id, now)
        stored = self.store.read(job_id, "job.reason", "")
        # Only a job that is queued is started or judged (failed, or its
        # reason written); one that waits on, as it waited, costs no look
        # at its job.state.
        acts = verdict is None or verdict == "never" or stored != reason
        if acts and not self.still_queued(job_id):
            return False
        if verdict is None:
            # A met condition stays met (ended jobs stay ended, time only
            # moves on), so it need not be read again.
            self.unconditional.add(job_id)
            return True
        if stored != reason:
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
        """Start a job that :meth:`still_queued` found queued."""
        job_path = self.store.job_path(job_id)
        if not job_path or not os.path.isfile(job_path):
            log("job %s: job file %r missing; failed" % (job_id, job_path))
            self.store.write(job_id, "job.exit", 127)
            self.store.transition(job_id, states.FAILED, was=states.QUEUED)
            return
        earlier = self.system.process(paths.job_file(job_id, "job.pid"), group=True)
        if earlier is not None:
            # Never a second copy while processes of the first still run.
            reason = "processes of an earlier run (group %d) still run" % earlier.pid
            if self.store.read(job_id, "job.reason", "") != reason:
                log("job %s not started: %s" % (job_id, reason))
                self.store.write(job_id, "job.reason", reason)
            return
        self.store.write(job_id, "job.execHost", self.host)
        # Files of an earlier run (held, restarted) must not be mistaken for
        # this run's by recover(): no sputnik.pid means "never launched".
        # One look at the directory instead of eight removals that mostly
        # find nothing (on NFS one READDIR instead of eight REMOVEs).
        try:
            present = set(os.listdir(paths.job_dir(job_id)))
        except OSError:
            present = STALE
        for stale in STALE & present:
            unlink_quiet(paths.job_file(job_id, stale))
        self.store.transition(job_id, states.RUNNING, was=states.QUEUED)
        try:
            pid = self.system.launch_sputnik(job_path, job_id)
            self.sputniks[pid] = job_id
            log("job %s: sputnik %s" % (job_id, pid))
        except OSError as e:
            log("job %s: cannot start sputnik: %s" % (job_id, e))
            self.store.write(job_id, "job.exit", 126)
            self.store.transition(job_id, states.FAILED)

    def job_ended(self, job_id, value, recovered=False, was=None):
        """The job's process ended with ``value``: run it again if its job
        type says so (up to ``max_restarts``), else it is finished or failed.
        ``was``: the state the caller has just read (not read again)."""
        if recovered and value != 0 and job_id in self.holds:
            # Its sputnik was lost while holding it (the hold's signals
            # ended it): held, as that sputnik would have reported.
            log("job %s: ended with %d while being held, its sputnik lost; held" % (job_id, value))
            self.mark_held(job_id)
            return
        runs = self.store.count(job_id, "job.start")
        counted = self.restart_under_way(job_id, runs)
        if counted is not None:
            # This run's end was counted as a restart by a controller that
            # died before the job was queued again: not counted twice.
            restarts = counted
        else:
            restarts = self.store.read(job_id, "job.restarts", "0").strip()
            restarts = int(restarts) if digits(restarts) else 0
            if not jobtypes.runs_again(self.store.read(job_id, "job.type", jobtypes.DEFAULT), value,
                                       restarts, self.max_restarts):
                restarts = None
            else:
                restarts += 1
                # First, in one file: which run's end this restart counts
                # (a crash from here to the queued link is finished by the
                # next controller, see restart_under_way and recover).
                self.store.write(job_id, RESTARTING, "%d %d" % (runs, restarts))
        if restarts is not None:
            self.store.write(job_id, "job.restarts", restarts)
            log("job %s: restart %d of %d" % (job_id, restarts, self.max_restarts))
            self.store.transition(job_id, states.HELD, events.JOB_TERMINATION, was=was,
                                  exit_value=value, restart=True, recovered=recovered)
            # Scheduled while held, so that the jobs queued behind it
            # get their turn before the restart.
            self.schedule()
            self.store.transition(job_id, states.QUEUED)
            unlink_quiet(paths.job_file(job_id, RESTARTING))
            self.need_schedule = True
            return
        self.staged_out(job_id)
        final = states.FINISHED if value == 0 else states.FAILED
        self.store.transition(job_id, final, events.JOB_TERMINATION, was=was, exit_value=value, recovered=recovered)
        self.need_schedule = True

    def restart_under_way(self, job_id, runs):
        """The restart count a controller recorded for the end of run
        ``runs`` (the job's latest) before it died, or None."""
        parts = (self.store.read(job_id, RESTARTING, "") or "").split()
        if len(parts) == 2 and all(digits(p) for p in parts) and int(parts[0]) == runs:
            return int(parts[1])
        return None

    def finish_restarts(self):
        """At start-up: a job a dead controller held for its restart (its
        held link made, its queued one not yet) is queued, not left held
        for good as a user's hold would be."""
        for job_id in self.store.ids(states.HELD):
            runs = self.store.count(job_id, "job.start")
            if self.restart_under_way(job_id, runs) is not None:
                log("job %s: its restart was cut short; queued" % job_id)
                self.store.transition(job_id, states.QUEUED, was=states.HELD)
                unlink_quiet(paths.job_file(job_id, RESTARTING))
                self.need_schedule = True
        # Queued already, the record not yet removed: a later hold by its
        # user must not be taken for a restart cut short.
        for job_id in self.store.ids(states.QUEUED):
            unlink_quiet(paths.job_file(job_id, RESTARTING))

    def staged_out(self, job_id):
        """The job has ended for good: its stage-out, done by its sputnik
        (or here, for a sputnik lost before it was done), and
        STAGE_OUT_FAILED for what was not copied."""
        try:
            failed = staging.stage_out(job_id)
        except OSError as e:  # the results cannot be recorded: the job still ends
            log("job %s: stage-out not recorded: %s" % (job_id, e))
            return
        if failed:
            log("job %s: %d file(s) not staged out" % (job_id, len(failed)))
            self.bus.emit(events.STAGE_OUT_FAILED, job_id, reason="\n".join(failed), failures=failed)

    def exit_value(self, job_id):
        value = (self.store.read(job_id, "job.exit", "") or "").strip()
        return int(value) if digits(value) else 1

    def recover(self):
        """At start-up: repair the store, tell waiters what they missed, and
        account for running jobs whose sputnik is gone."""
        for line in self.store.reconcile():
            log("store repaired: " + line)
        self.finish_restarts()
        if staging.clean_spool(self.now()):
            log("stage-in uploads of gqsubs that never submitted them removed")
        for state in states.ENDED:
            for job_id in self.store.ids(state):
                if waiters.registrations(job_id):
                    self.bus.emit(events.JOB_STATE, job_id, old=state, new=state)
        for job_id in self.store.ids(states.RUNNING):
            host = (self.store.read(job_id, "job.execHost", "") or "").strip()
            if host != self.host:
                # Its sputnik reports to whichever controller runs, unless
                # its host is lost (HostLoss).
                self.watch_remote(job_id, host)
                continue
            ref = self.sputnik_of(job_id)
            if ref is not None:
                self.watched[job_id] = ref  # its end is told, or noticed
            else:
                self.lost.add(job_id)
        if self.watched:
            self.call_later(WATCH_INTERVAL, self.watch_sputniks)
        self.account_lost()

    # -- lost supervisors -------------------------------------------------------
    def sputnik_of(self, job_id):
        return self.system.process(paths.job_file(job_id, "sputnik.pid"), pidref.SPUTNIK)

    def child_ended(self, pid, value):
        """A child reaped on SIGCHLD: a sputnik of ours, or else a process
        we are the subreaper of (maybe the job of a sputnik that died)."""
        job_id = self.sputniks.pop(pid, None)
        if job_id is not None:
            if value != 0:
                log("job %s: sputnik %d ended with %d" % (job_id, pid, value))
            self.lost.add(job_id)
            return
        self.orphan_exits[pid] = value
        self.record_orphan_exit(pid, value)
        while len(self.orphan_exits) > ORPHAN_EXITS:
            del self.orphan_exits[next(iter(self.orphan_exits))]

    def record_orphan_exit(self, pid, value):
        """``pid`` ended as a child we inherited as the subreaper of a dead
        sputnik, and is not reaped yet: if it is the job of one of our
        running jobs, its exit value goes to the job's files now, before
        the status is gone, so that a kill of this controller at any moment
        loses nothing (the next one reads the files, or the zombie).  An
        end already on record (the sputnik wrote it before it died) is not
        recorded again."""
        for job_id in self.store.ids(states.RUNNING):
            if (self.store.read(job_id, "job.pid", "") or "").strip() != str(pid):
                continue
            try:
                runs.record_end(paths.job_dir(job_id), value, self.now())
            except OSError as e:
                log("job %s: cannot record its exit value: %s" % (job_id, e))
            return

    def watch_sputniks(self):
        """Every WATCH_INTERVAL while there are any (only after a restart):
        an idle controller has no timer of its own but the liveness one."""
        for job_id, ref in list(self.watched.items()):
            if not ref.alive():
                del self.watched[job_id]
                self.lost.add(job_id)
        if self.watched:
            self.call_later(WATCH_INTERVAL, self.watch_sputniks)

    def account_lost(self):
        again = set()
        while self.lost:
            job_id = self.lost.pop()
            try:
                if self.store.exists(job_id) and self.store.state(job_id) == states.RUNNING:
                    self.supervisor_lost(job_id)
            except OSError as e:
                # A full or read-only disk: tried again at the next tick.
                if job_id not in self.lost_failed:
                    log("job %s: its lost sputnik not accounted for yet: %s" % (job_id, e.strerror or e))
                self.lost_failed.add(job_id)
                again.add(job_id)
            except Exception:
                # The job's own files (absurd values written by the job, by
                # hand): that job is left as it is, the controller goes on.
                log("job %s: cannot account for its lost sputnik; left as it is\n%s"
                    % (job_id, traceback.format_exc()))
            else:
                self.lost_failed.discard(job_id)
        self.lost |= again

    def supervisor_lost(self, job_id):
        """The job's sputnik is gone and the job still counts as running."""
        if job_id in self.sputniks.values():
            # A sputnik launched since (the next run after a restart, or an
            # adopter) supervises it, even if it has not written its PID yet:
            # the one that ended belonged to an earlier run.
            return
        if self.sputnik_of(job_id) is not None:
            return  # another sputnik supervises it (adopted, or a relaunch)
        value = (self.store.read(job_id, "job.exit", "") or "").strip()
        starts = self.store.count(job_id, "job.start")
        stops = self.store.count(job_id, "job.stop")
        job_pid = (self.store.read(job_id, "job.pid", "") or "").strip()
        pid_file = paths.job_file(job_id, "job.pid")

        def unreaped():
            # The run's process ended and nobody reaped it: its wait status.
            return self.system.ended_status(pid_file) if starts > stops else None

        status = unreaped()
        if digits(value) and stops >= starts > 0:
            log("job %s: its sputnik is gone; the run ended with %s" % (job_id, value))
            self.job_ended(job_id, int(value), recovered=True)
        elif status is not None:
            self.record_lost_exit(job_id, proc.exit_value(status), "read its exit status from /proc")
        elif self.system.process(pid_file) is not None:
            # The job's own process (its group's leader) runs.  Once it has
            # ended, so has the job, as under a live sputnik, whatever it
            # left running in its group: an adopter would find nothing to
            # watch, and its exit value went to whoever reaped it.
            self.adopt(job_id)
        elif digits(job_pid) and int(job_pid) in self.orphan_exits:
            self.record_lost_exit(job_id, self.orphan_exits.pop(int(job_pid)), "we reaped the job")
        elif not job_pid and self.found_unrecorded_job(job_id, starts > stops):
            self.adopt(job_id)
        elif not job_pid and (starts <= stops or self.never_began(job_id)):
            self.lost_before_start(job_id)
        else:
            # The leader may have ended since the first look: its zombie
            # still holds the exit value (we, its subreaper, reap it later).
            status = unreaped()
            if status is not None:
                self.record_lost_exit(job_id, proc.exit_value(status), "read its exit status from /proc")
                return
            left = self.system.process(pid_file, group=True)
            log("job %s: its sputnik is gone and no exit was recorded; failed%s" % (job_id, "" if left is None else (
                " (processes it started still run in group %d, as after any end of a job)" % left.pid)))
            self.store.write(job_id, "job.reason", LOST)
            self.store.transition(job_id, states.FAILED)
            self.need_schedule = True

    def found_unrecorded_job(self, job_id, started):
        """The sputnik died after starting the job but before writing
        job.pid: look for the job's process and record it, so the job is
        adopted, never started a second time.  ``started``: the sputnik
        recorded this run's start; then a process still bearing its name
        is the job it was killed while starting (posix_spawn's child shares
        the sputnik's memory until it runs the job's program, which keeps
        its PID and start time)."""
        job_path = self.store.job_path(job_id)
        ref = self.system.find_job_process(job_path) if job_path else None
        if ref is None and started:
            ref = self.system.half_started(job_id)
        if ref is None:
            return False
        log("job %s: its sputnik died before recording job.pid; found it as %d" % (job_id, ref.pid))
        try:
            pidref.write_pid_file(paths.job_file(job_id, "job.pid"), ref.pid, ref.start)
        except OSError as e:
            log("job %s: cannot record job.pid: %s" % (job_id, e))
            return False
        return True

    def never_began(self, job_id):
        """The sputnik recorded the start (it does so before it starts the
        job, so a kill in between never runs the job twice) and died, and
        :meth:`found_unrecorded_job` found no process of the job, running
        or half-started: did the job never begin?  Only if this run left no
        ``job.stdout``: the started job opens it before its program runs,
        and a dead sputnik starts nothing more.  Then the start is taken
        back, so the run that follows is the only one."""
        if os.path.lexists(paths.job_file(job_id, "job.stdout")):
            return False
        starts = (self.store.read(job_id, "job.start", "") or "").split()
        try:
            write_atomic(paths.job_file(job_id, "job.start"), "".join(t + "\n" for t in starts[:-1]))
        except OSError as e:
            log("job %s: cannot take back the start of a run that never began: %s" % (job_id, e))
            return False
        log("job %s: its sputnik died before the job began" % job_id)
        return True

    def record_lost_exit(self, job_id, value, how):
        """The job of a lost sputnik ended with ``value``: record it as the
        sputnik would have, and end the job."""
        log("job %s: its sputnik was lost; %s: exit %d" % (job_id, how, value))
        try:
            runs.record_end(paths.job_dir(job_id), value, self.now())
        except OSError as e:
            log("job %s: cannot record its exit value: %s" % (job_id, e))
        self.job_ended(job_id, value, recovered=True)

    def lost_again(self, job_id):
        """Count a lost supervisor of the job; True once that happened more
        than ``LOST_AGAIN`` times (a sputnik that cannot run at all)."""
        self.lost_tries[job_id] = self.lost_tries.get(job_id, 0) + 1
        return self.lost_tries[job_id] > LOST_AGAIN

    def adopt(self, job_id):
        if self.lost_again(job_id):
            log("job %s: %s" % (job_id, ADOPT_FAILED))
            self.store.write(job_id, "job.reason", ADOPT_FAILED)
            self.store.transition(job_id, states.FAILED)
            self.need_schedule = True
            return
        job_path = self.store.job_path(job_id)
        try:
            pid = self.system.launch_sputnik(job_path, job_id, adopt=True)
        except OSError as e:
            log("job %s: cannot start a sputnik to adopt it: %s" % (job_id, e))
            self.watched.pop(job_id, None)
            return
        self.sputniks[pid] = job_id
        log("job %s: still running after its sputnik was lost; adopted by sputnik %d" % (job_id, pid))

    def lost_before_start(self, job_id):
        """The sputnik died before the job started: run it again, a few times."""
        ref = self.system.half_started(job_id)
        if ref is not None:
            # A sputnik named for the job (a spare handed it, or one forked
            # for it) by a controller that died before it wrote its PID: it
            # starts the job, and a second one must not.
            log("job %s: sputnik %d, named for it, is still starting it; watched" % (job_id, ref.pid))
            if not self.watched:
                self.call_later(WATCH_INTERVAL, self.watch_sputniks)
            self.watched[job_id] = ref
            return
        if self.lost_again(job_id):
            reason = "supervisor lost %d times before the job started" % LOST_AGAIN
            log("job %s: %s; failed" % (job_id, reason))
            self.store.write(job_id, "job.reason", reason)
            self.store.transition(job_id, states.FAILED)
        else:
            log("job %s: its sputnik is gone before the job started; queued again" % job_id)
            self.store.transition(job_id, states.QUEUED)
        self.need_schedule = True
