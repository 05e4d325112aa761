"""Jobs whose supervisor lives on another host (issue 17, item 3).

A controller starts jobs on its own host only, so a running job of another
host is one it found when it started (it took over from a controller
elsewhere).  Such a job's sputnik reports to whichever controller runs, so
it is left alone while its host lives; its host is checked by the host's
heartbeat (:mod:`gsatellite.hosts`) on a timer.  Once that host has been
silent for ``host_lost_after`` seconds (counted from when this controller
began to watch it at the earliest, so a host without heartbeat, e.g. one
whose controller was older, gets the same time) the job no longer counts
as running: it fails with the reason ``host HOST lost``, or is queued again
when its job type may run again (``RERUN_ON_HOST_LOSS``), its slot is
freed and its waiters are told.

If the host was only cut off and the job's sputnik in fact lives, its
report still comes: a ``TERMINATED`` for a job that failed this way, from
the sputnik ``sputnik.pid`` and ``job.execHost`` name, is taken (the job
ends with its real value, once: the loss itself ran no services).  A
report from any other supervisor than the job's current one (a job queued
again and running elsewhere now) is ignored.
"""

from .. import events, hosts, jobtypes, paths, states, transport
from ..fsutil import unlink_quiet
from ..log import log
from .lifecycle import RESTARTING
from ..protocol import digits

# Seconds between two looks at the heartbeats of other hosts' jobs.
CHECK_INTERVAL = 2.0
LOST = "host %s lost"


def lost_reason(host):
    return LOST % host


class HostLoss:
    """Mixin of the Controller: uses ``store``, ``host``, ``now``,
    ``host_lost_after``, ``max_restarts``."""

    def watch_remote(self, job_id, host):
        """Watch running job ``job_id`` of ``host`` (not ours).  A job
        without a valid ``job.execHost`` names no host to watch: it is left
        alone, as before."""
        if not transport.valid_host(host):
            log("job %s runs on no known host (job.execHost %r); left alone" % (job_id, host))
            return
        if not hasattr(self, "remote_jobs"):
            self.remote_jobs = {}
            self.every(CHECK_INTERVAL, self.check_remote_jobs)
        log("job %s runs on %s; its end is reported from there, or the host is lost after %g s"
            % (job_id, host, self.host_lost_after))
        self.remote_jobs[job_id] = (host, self.now())

    def check_remote_jobs(self):
        for job_id, (host, since) in list(self.remote_jobs.items()):
            if not self.store.exists(job_id) or self.store.state(job_id) != states.RUNNING:
                del self.remote_jobs[job_id]
            elif self.now() - since > self.host_lost_after and hosts.lost(host, self.host_lost_after, self.now()):
                del self.remote_jobs[job_id]
                self.host_lost(job_id, host)

    def host_lost(self, job_id, host):
        reason = lost_reason(host)
        job_type = jobtypes.get(self.store.read(job_id, "job.type", jobtypes.DEFAULT))
        restarts = (self.store.read(job_id, "job.restarts", "0") or "0").strip()
        restarts = int(restarts) if digits(restarts) else 0
        runs = self.store.count(job_id, "job.start")
        # Counted by a controller killed before the job was queued: once.
        counted = self.restart_under_way(job_id, runs)
        self.store.write(job_id, "job.reason", reason)
        if getattr(job_type, "RERUN_ON_HOST_LOSS", False) and (counted is not None or restarts < self.max_restarts):
            if counted is None:
                counted = restarts + 1
                self.store.write(job_id, RESTARTING, "%d %d" % (runs, counted))
            log("job %s: %s; queued again (restart %d of %d)" % (job_id, reason, counted, self.max_restarts))
            self.store.write(job_id, "job.restarts", counted)
            self.store.transition(job_id, states.QUEUED)
            unlink_quiet(paths.job_file(job_id, RESTARTING))
        else:
            log("job %s: %s; failed" % (job_id, reason))
            self.store.transition(job_id, states.FAILED, events.JOB_ABORT, reason=reason)
        self.need_schedule = True

    def late_report(self, job_id, answer_box):
        """True when a TERMINATED for ``job_id`` (not running) is the report
        of a job failed for the loss of its host, from its own sputnik."""
        if self.store.state(job_id) != states.FAILED:
            return False
        host = (self.store.read(job_id, "job.execHost", "") or "").strip()
        if (self.store.read(job_id, "job.reason", "") or "").strip() != lost_reason(host):
            return False
        return self.from_supervisor(job_id, answer_box)

    def from_supervisor(self, job_id, answer_box):
        """Does ``answer_box`` belong to the job's recorded sputnik (or is
        there no record to tell)?"""
        found = transport.owner(answer_box) if answer_box else None
        if found is None:
            return True  # a classic sputnik names no box: nothing to check by
        host = (self.store.read(job_id, "job.execHost", "") or "").strip()
        pid = (self.store.read(job_id, "sputnik.pid", "") or "").strip()
        return (not host or found[0] == host) and (not digits(pid) or int(pid) == found[1])
