"""The Controller daemon: its settings, timers and loop hooks, and ``main``.

The Controller is a :class:`~gsatellite.daemon.Daemon` made of mixins, one
per concern: :class:`.liveness.Liveness` (gsatlcPid), :class:`.handlers.Handlers`
and :class:`.submission.Submission` (the verbs), :class:`.lifecycle.Lifecycle`
(schedule, start, end, recover), :class:`.proxywatch.ProxyWatch` (proxy
expiry), :class:`.hostloss.HostLoss` (jobs of a lost host; issue 17).
Which controller serves several hosts is :mod:`.claim`; gqwait notices for
other hosts are :mod:`.notices`.  This module wires them: the job store and
its event bus, the subscribers, the liveness timer, the copier, and the
per-pass work (collect finished copies, schedule after each batch).
"""

import os
import signal
import sys
import time
import traceback

from .. import config, events, paths, scheduler
from .. import protocol as P
from ..daemon import Daemon
from ..fsutil import makedirs, random_chars, write_atomic
from ..jobstore import JobStore, StoreError
from ..log import log
from ..transport import mbox
from . import claim, subscribers
from .copier import Copier
from .handlers import Handlers
from .hostloss import HostLoss
from .lifecycle import Lifecycle
from .liveness import AlreadyRunning, Liveness, acquire_lock, check_stale, refuse_live
from .notices import Notices
from .proxywatch import ProxyWatch
from .submission import Submission
from .system import SpareSockets, System

# Seconds between sweeps of this host's boxes left by processes killed with kill -9.
BOX_SWEEP_SECONDS = 60.0


class Controller(Liveness, Handlers, Submission, Lifecycle, ProxyWatch, HostLoss, Daemon):
    name = "gsatlc"

    def __init__(self, system=None, clock=time.monotonic, now=time.time):
        # Read the configuration before the box exists, so a bad setting
        # leaves nothing behind.
        self.scheduler = scheduler.get(config.get("scheduler"))
        interval = config.get_float("liveness_interval")
        self.sputnik_timeout = config.get_float("sputnik_timeout")
        self.hold_grace = config.get_float("hold_grace")
        # How long a client waits for an answer (the same setting): a hold
        # is not sent on to an adopting sputnik when its answer would come later.
        self.answer_timeout = config.get_float("answer_timeout")
        self.max_job_size = config.get_int("max_job_size")
        self.max_restarts = config.get_int("max_restarts")
        self.slots = config.get_int("slots")
        self.system = system or System()
        super().__init__(clock=clock, now=now)
        self.poll = interval
        self.bus = events.Bus()
        self.store = JobStore(bus=self.bus)
        # Queued jobs known to have no start condition (-a/-W): scheduling
        # skips reading their condition files, which keeps a long queue cheap.
        self.unconditional = set()
        self.holds = {}  # job id -> answer boxes of the QHOLDs waiting for its sputnik
        self.sputniks = {}  # PID of a sputnik we started -> its job id
        self.watched = {}  # job id -> ProcessRef of a sputnik we did not start
        self.lost = set()  # job ids whose sputnik ended, to account for
        self.lost_failed = set()  # of those, the ones a disk error kept back (logged once)
        self.orphan_exits = {}  # PID -> exit value of children we did not start
        self.lost_tries = {}  # job id -> supervisors lost before start / adoptions
        self.submissions = {}  # job id -> answer box, while its script is copied
        self.copier = Copier(lambda: self.system.wake(self.pid))
        self.host_lost_after = config.get_float("host_lost_after")
        self.notices = Notices(self, self.host_lost_after, self.now)
        self.handlers.update(
            {
                P.QSUB: self.qsub,
                P.QHOLD: self.qhold,
                P.QRLS: self.qrls,
                P.QDEL: self.qdel,
                P.QSIG: self.qsig,
                P.STARTED: self.started,
                P.TERMINATED: self.terminated,
                P.HELD: self.held,
                P.QWAIT: self.qwait,
                P.QUNWAIT: self.qunwait,
                P.CAPABILITIES: self.capabilities,
            }
        )
        self.serve(SpareSockets(self.system), self.dispatch)
        subscribers.wire(self)
        self.init_proxies()
        # The sweep of boxes rides on the liveness timer: no wake-up of its own.
        self._next_box_sweep = self.clock() + BOX_SWEEP_SECONDS
        self.every(interval, self.keep_alive_and_sweep)

    def keep_alive_and_sweep(self):
        self.keep_alive()
        if self.clock() >= self._next_box_sweep:
            self._next_box_sweep = self.clock() + BOX_SWEEP_SECONDS
            self.sweep_boxes()

    def sweep_boxes(self):
        """Boxes of this host's processes killed with kill -9 (clients,
        sputniks): by the controller alone, about once a minute and at start."""
        mbox.sweep_dead(log)

    def maintain(self):
        # After every message: a finished copy is published (and answered)
        # without waiting for the box to run empty.
        self.copier.collect()

    def tick(self):
        self.copier.collect()
        if self.lost:
            # What a lost sputnik sent before it died is handled first (it
            # may have been published after the boxes last looked empty),
            # so only what it left unsaid is accounted for.
            self.take_messages()
            self.account_lost()
        now = self.now()
        if self.need_schedule or (self.next_timer is not None and now >= self.next_timer):
            self.need_schedule = False
            self.schedule_safely()
            self.system.keep_spare(self.spare_wanted)
        if self.system.unread:
            # Messages a sputnik's socket held when the pass read its READY
            # (or let it go): taken before the loop sleeps.
            self._signalled = True
        if self.next_timer is not None:
            return max(0.0, min(self.poll, self.next_timer - self.now()))
        return self.poll

    def schedule_safely(self):
        """A scheduling pass that never ends the controller.  A job's own bad
        files fail only that job (in :meth:`schedule`); a pass that a file
        system error cut short is tried again a poll later (a damaged job is
        put aside by the store and skipped next time, a full or read-only
        disk may recover); any other failure of the whole pass is logged and
        the pass tried again later too."""
        damaged = set(self.store.damaged)
        try:
            self.schedule()
        except OSError as e:
            self.need_schedule = True
            for job_id in set(self.store.damaged) - damaged:
                log("job %s is damaged (%s); put aside" % (job_id, self.store.damaged[job_id]))
            log("scheduling pass failed: %s; trying again" % e)
        except Exception:
            log("scheduling failed; trying again in %s s:\n%s" % (self.poll, traceback.format_exc()))
            self.need_schedule = True

    def on_signal(self, signo):
        if signo == signal.SIGCHLD:
            self.system.reap(self.child_ended)
            return
        super().on_signal(signo)

    def shutdown(self):
        self.abandon_submissions()
        if self.holds:
            log("shutting down with %d QHOLD(s) unanswered" % len(self.holds))
        self.system.keep_spare(False)
        super().shutdown()
        self.unpublish()
        if self.owner:
            # Taken over by a controller elsewhere: this host's forwarder
            # stays, its sputniks and waiters need it.
            self.system.stop_forwarder()
        log("shut down")


PROBE = ".write-test."
# A write test lives for microseconds; one this old was left by a start
# killed in the middle of it (an hour: never a test another host, with its
# own clock, is making now).
PROBE_LEFT = 3600


def probe_path(base):
    """A name for the start's write test in ``base`` that no other start
    uses: not the PID alone, which a controller starting at the same
    moment on another host sharing ``$HOME`` may have too (then one
    removed the other's probe, and that start failed)."""
    return os.path.join(base, "%s%d.%s" % (PROBE, os.getpid(), random_chars(8)))


def clear_probes(base, now):
    """Remove write tests (and their temporary files) that starts killed
    with ``kill -9`` left in ``base``.  Never fails: a directory we may
    write but not list (mode 0300) is no reason not to start."""
    try:
        names = os.listdir(base)
    except OSError:
        return
    for name in names:
        if name.startswith(PROBE) or name.startswith("." + PROBE):
            path = os.path.join(base, name)
            try:
                if os.lstat(path).st_mtime < now - PROBE_LEFT:
                    os.unlink(path)
            except OSError:
                pass


def main(system=None):
    os.umask(0o077)
    try:
        # Every setting, not only the controller's: a bad one is refused
        # now, with its name, before anything is written, rather than when
        # a job or a client trips on it.
        config.check_all()
    except config.ConfigError as e:
        sys.stderr.write("gsatlc: configuration: %s\n" % e)
        return 70
    base = paths.base()
    try:
        makedirs(base)
        makedirs(paths.log_dir())
        probe = probe_path(base)
        write_atomic(probe, "")
        os.unlink(probe)
    except OSError as e:
        sys.stderr.write("gsatlc: cannot write %s: %s\n" % (base, e.strerror))
        return 79
    clear_probes(base, time.time())
    system = system or System()
    held = None

    def alive(pid):
        return system.process(paths.gsatlc_pid_file()) is not None

    try:
        JobStore().ensure()
        # A young gsatlcPid (a classic controller takes no claim) first,
        # then the claim, which two hosts starting at once cannot both win,
        # then the local lock; only the winner clears a dead one's files.
        refuse_live(paths.hostname(), alive)
        held = claim.take(paths.hostname())
        lock = acquire_lock(claimed=True)
        check_stale(paths.hostname(), alive)
    except StoreError as e:
        sys.stderr.write("gsatlc: %s\n" % e)
        return e.code
    except (AlreadyRunning, claim.Taken) as e:
        if held is not None:
            held.release()
        sys.stderr.write("gsatlc: %s\n" % e)
        return 1
    except config.ConfigError as e:
        sys.stderr.write("gsatlc: configuration: %s\n" % e)
        return 70
    except OSError as e:  # the claim could not be written (full disk)
        sys.stderr.write("gsatlc: cannot write %s: %s\n" % (e.filename or base, e.strerror))
        return 79
    try:
        c = Controller(system)
    except (scheduler.UnknownScheduler, config.ConfigError) as e:
        sys.stderr.write("gsatlc: configuration: %s\n" % e)
        held.release()
        if lock is not None:
            lock.release()
        return 70
    c.claim = held
    c.publish()
    system.become_subreaper()
    try:
        system.start_forwarder()
    except (RuntimeError, OSError) as e:
        log("warning: %s" % e)
    c.heals_forwarder = True
    c.recover()
    c.sweep_boxes()
    c.proxy_recover()
    # The first scheduling pass runs before the first message is read, so
    # a controller that answers ALIVE? (what gsatlcd --start waits for) has
    # survived it.
    c.need_schedule = False
    c.schedule_safely()
    log("started; box %s, scheduler %s" % (c.box, config.get("scheduler")))
    try:
        c.run()
    finally:
        if lock is not None:
            lock.release()
    return 0
