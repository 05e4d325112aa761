"""gsatlc: the controller (PROTOCOL.md §1, §5).

It owns ``PID.inbox``, ``gsatlcPid``/``gsatlcHostName`` and is the single
writer of the job store.  Verbs are dispatched through ``self.handlers``;
each ``*_verb`` method returns the exact classic answer string.  Scheduling
runs after every batch of messages, so a burst of submissions is answered
first and started afterwards.

Start-up refuses a second controller for the same ``$HOME``: an exclusive
lock (held for the controller's life, released by the kernel if it is
killed) guards this host and NFS hosts with working locks, and the liveness
rule guards against controllers that do not take the lock (classic ones).
"""

import os
import signal
import sys
import time

from . import protocol as P
from . import config, directives, events, jobtypes, liveness, paths, proc, scheduler, conditions as scheduling, sigfwd, states, waiters
from .daemon import Daemon
from .fsutil import makedirs, read_first_line, unlink_quiet, write_atomic
from . import transport
from .transport import request, wake
from .jobstore import InvalidJobId, JobStore, StoreError, canonical_id
from .log import log

SPUTNIK_TIMEOUT = 30.0
# Job options recorded in the job directory at submission.
OPTION_FILES = {
    "-m": "job.mailPoints",
    "-M": "job.mailTo",
    "-o": "job.stdoutPath",
    "-e": "job.stderrPath",
    "-a": "job.startAfter",
    "-W": "job.depend",
}


class AlreadyRunning(Exception):
    pass


class Controller(Daemon):
    name = "gsatlc"

    def __init__(self):
        # Check the configuration before the box exists, so a bad setting
        # leaves nothing behind.
        self.scheduler = scheduler.get(config.get("scheduler"))
        super().__init__()
        self.poll = config.get_float("liveness_interval")
        self.store = JobStore(on_change=self.state_changed)
        self.max_restarts = config.get_int("max_restarts")
        self.slots = config.get_int("slots")
        # Queued jobs known to have no start condition (-a/-W): scheduling
        # skips reading their condition files, which keeps a long queue cheap.
        self.unconditional = set()
        self.next_timer = None
        self.need_schedule = True
        self.last_refresh = 0.0
        self.handlers.update(
            {
                P.QSUB: self.qsub,
                P.QHOLD: self.qhold,
                P.QRLS: self.qrls,
                P.QDEL: self.qdel,
                P.QSIG: self.qsig,
                P.STARTED: self.started,
                P.TERMINATED: self.terminated,
                P.QWAIT: self.qwait,
                P.QUNWAIT: self.qunwait,
            }
        )
        for event in ("JOB_START", "JOB_END", "JOB_ABORT"):
            events.subscribe(event, self.mail_notice)

    # -- top files ---------------------------------------------------------------
    def publish(self):
        write_atomic(paths.gsatlc_host_file(), self.host + "\n")
        write_atomic(paths.gsatlc_pid_file(), "%d\n" % self.pid)
        self.last_refresh = time.monotonic()

    def refresh(self):
        """Keep gsatlcPid young; returns False if another controller owns it."""
        pid = read_first_line(paths.gsatlc_pid_file(), "")
        host = read_first_line(paths.gsatlc_host_file(), "")
        if pid == "" and host == "":
            log("gsatlcPid/gsatlcHostName vanished; writing them again")
            self.publish()
            return True
        if pid != str(self.pid) or host != self.host:
            log("gsatlcPid now names %s on %s; another controller took over, exiting" % (pid, host))
            return False
        os.utime(paths.gsatlc_pid_file())
        self.last_refresh = time.monotonic()
        return True

    def maintain(self):
        # A steady stream of messages must not starve the liveness refresh:
        # clients would take the controller for dead after 5 s.
        if time.monotonic() - self.last_refresh >= self.poll * 0.9:
            if not self.refresh():
                self.stop = True
                self.owner = False

    def tick(self):
        self.maintain()
        if self.stop:
            return 0
        if self.need_schedule or (self.next_timer is not None and time.time() >= self.next_timer):
            self.need_schedule = False
            self.schedule()
        if self.next_timer is not None:
            return max(0.0, min(self.poll, self.next_timer - time.time()))
        return self.poll

    def on_signal(self, signo):
        if signo == signal.SIGCHLD:
            _reap_children()
            return
        super().on_signal(signo)

    # -- store events --------------------------------------------------------------
    def state_changed(self, job_id, old, new):
        log("job %s: %s -> %s" % (job_id, old, new))
        events.emit("STATE", job_id, old=old, new=new)
        if new in states.ENDED:
            waiters.notify(job_id, self.exit_value(job_id), self.host)

    def exit_value(self, job_id):
        value = (self.store.read(job_id, "job.exit", "") or "").strip()
        return int(value) if value.isdigit() else 1

    # -- scheduling ------------------------------------------------------------------
    def schedule(self):
        """Start what the scheduler picks among the queued jobs that may start.

        Deferred and dependent jobs stay queued with a reason in
        ``job.reason``; one whose dependency can never be met fails.  The
        earliest deferred start time becomes a timer for ``tick``.
        """
        self.next_timer = None
        queued = self.store.ids(states.QUEUED)
        if not queued:
            return
        now = time.time()
        startable = []
        for job_id in queued:
            if job_id in self.unconditional:
                startable.append(job_id)
                continue
            verdict, reason = scheduling.blocked(self.store, job_id, now)
            if verdict is None:
                # A met condition stays met (ended jobs stay ended, time
                # only moves on), so it need not be read again.
                self.unconditional.add(job_id)
                startable.append(job_id)
                continue
            if self.store.read(job_id, "job.reason", "") != reason:
                self.store.write(job_id, "job.reason", reason)
            if verdict == "never":
                log("job %s can never start: %s" % (job_id, reason))
                self.store.set_state(job_id, states.FAILED)
                self.need_schedule = True
                events.emit("JOB_ABORT", job_id, reason=reason)
            else:
                after = (self.store.read(job_id, "job.startAfter", "") or "").strip()
                if after.isdigit() and int(after) > now:
                    t = int(after)
                    self.next_timer = t if self.next_timer is None else min(self.next_timer, t)
        if not startable:
            return
        running = len(self.store.ids(states.RUNNING))
        for job_id in self.scheduler.pick(startable, running, self.slots):
            self.start_job(job_id)

    def start_job(self, job_id):
        job_path = self.store.job_path(job_id)
        if not job_path or not os.path.isfile(job_path):
            log("job %s: job file %r missing; failed" % (job_id, job_path))
            self.store.write(job_id, "job.exit", 127)
            self.store.set_state(job_id, states.FAILED)
            return
        self.store.write(job_id, "job.execHost", self.host)
        # Files of an earlier run (held, restarted) must not be mistaken for
        # this run's by recover(): no sputnik.pid means "never launched".
        for stale in ("job.reason", "sputnik.pid", "job.exit"):
            unlink_quiet(paths.job_file(job_id, stale))
        self.store.set_state(job_id, states.RUNNING)
        from . import sputnik

        try:
            pid = sputnik.launch(job_path, job_id)
            log("job %s: sputnik %s" % (job_id, pid))
        except OSError as e:
            log("job %s: cannot start sputnik: %s" % (job_id, e))
            self.store.write(job_id, "job.exit", 126)
            self.store.set_state(job_id, states.FAILED)

    # -- verbs -------------------------------------------------------------------------
    def qsub(self, args, box):
        """``QSUB PATH`` (classic) or ``QSUB -X=V ... -- PATH`` (with gqsub options)."""
        overrides = {}
        job = args
        if args.startswith("-") and " -- " in args:
            encoded, _, job = args.partition(" -- ")
            try:
                overrides = directives.decode(encoded)
            except directives.DirectiveError as e:
                log("QSUB refused: %s" % e)
                return P.QSUB_FAILED
        if not job.startswith("/") or "\n" in job:
            log("QSUB refused: not an absolute path: %r" % job)
            return P.QSUB_FAILED
        if not os.path.isfile(job) or not os.access(job, os.R_OK):
            log("QSUB refused: %s is not a readable file" % job)
            return P.QSUB_FAILED
        try:
            opts = directives.options(directives.scan(job), os.path.dirname(job), overrides, warn=log)
            for _kind, ids in scheduling.parse_depend("depend=" + opts["-W"]) if "-W" in opts else ():
                for dep in ids:
                    if not self.store.exists(dep):
                        raise directives.DirectiveError("dependency on unknown job %s" % dep)
        except directives.DirectiveError as e:
            log("QSUB %s refused: %s" % (job, e))
            return P.QSUB_FAILED
        job_type = opts.get("-T") if jobtypes.is_known(opts.get("-T")) else jobtypes.DEFAULT
        job_id = None
        attrs = {attr: opts[option] for option, attr in OPTION_FILES.items() if option in opts}
        if "job.startAfter" in attrs:
            attrs["job.startAfter"] = attrs["job.startAfter"].lstrip("@")
        attrs["job.submitted"] = int(time.time())
        if box:
            attrs["job.submitBox"] = box
        try:
            job_id, warning = self.store.new_id()
            if warning:
                log(warning)
            self.store.create(job_id, job, job_type, name=opts.get("-N"), attrs=attrs)
            if "-a" not in opts and "-W" not in opts:
                self.unconditional.add(job_id)
        except OSError as e:
            log("QSUB %s failed: %s" % (job, e))
            if job_id is not None:
                self.store.discard_staging(job_id)
            return P.QSUB_FAILED
        self.need_schedule = True
        log("job %s submitted: %s" % (job_id, job))
        return job_id

    def _job(self, text):
        return self.store.resolve_id(text.strip())

    def qhold(self, args, box):
        try:
            job_id = self._job(args)
        except InvalidJobId:
            return P.invalid_id(P.QHOLD)
        state = self.store.state(job_id)
        if state == states.HELD:
            return P.OK
        if state == states.QUEUED:
            self.store.set_state(job_id, states.HELD)
            return P.OK
        if state != states.RUNNING:
            return P.failed(P.QHOLD)
        if self.ask_sputnik(job_id, P.HOLD) != P.OK:
            return P.failed(P.QHOLD)
        self.store.set_state(job_id, states.HELD)
        self.need_schedule = True
        events.emit("JOB_ABORT", job_id, reason="held while running")
        return P.OK

    def qrls(self, args, box):
        try:
            job_id = self._job(args)
        except InvalidJobId:
            return P.invalid_id(P.QRLS)
        if self.store.state(job_id) != states.HELD:
            return P.failed(P.QRLS)
        self.store.set_state(job_id, states.QUEUED)
        self.need_schedule = True
        return P.OK

    def qdel(self, args, box):
        try:
            job_id = self._job(args)
        except InvalidJobId:
            return P.invalid_id(P.QDEL)
        self.unconditional.discard(job_id)
        if self.store.state(job_id) == states.RUNNING:
            return P.RUNNING_JOB
        waiters.notify(job_id, "DELETED", self.host)
        self.store.remove(job_id)
        events.emit("DELETED", job_id)
        log("job %s deleted" % job_id)
        return P.OK

    def qsig(self, args, box):
        words = args.split()
        if len(words) != 2:
            return P.failed(P.QSIG)
        try:
            job_id = self._job(words[1])
        except InvalidJobId:
            return P.invalid_id(P.QSIG)
        try:
            wake.signal_number(words[0])
        except ValueError:
            return P.failed(P.QSIG)
        if self.store.state(job_id) != states.RUNNING:
            return P.failed(P.QSIG)
        if self.ask_sputnik(job_id, P.command(P.SIGNAL, words[0])) != P.OK:
            return P.failed(P.QSIG)
        return P.OK

    def qwait(self, args, box):
        """``QWAIT ID FIFOPATH HOST``: register a gqwait; ``ENDED VALUE`` if
        the job has already ended."""
        words = args.split()
        if len(words) != 3 or not waiters.valid_fifo_path(words[1]):
            return P.failed(P.QWAIT)
        try:
            job_id = self._job(words[0])
        except InvalidJobId:
            return P.invalid_id(P.QWAIT)
        if self.store.state(job_id) in states.ENDED:
            return P.command(P.ENDED, self.exit_value(job_id))
        waiters.add(job_id, words[2], words[1])
        return P.OK

    def qunwait(self, args, box):
        words = args.split()
        if len(words) != 3:
            return P.failed(P.QUNWAIT)
        job_id = canonical_id(words[0])
        if job_id and self.store.exists(job_id):
            waiters.remove(job_id, words[2], words[1])
        return P.OK

    def ask_sputnik(self, job_id, command):
        pid = (self.store.read(job_id, "sputnik.pid", "") or "").strip()
        host = (self.store.read(job_id, "job.execHost", "") or "").strip()
        deadline = time.monotonic() + 2
        while not pid.isdigit() and time.monotonic() < deadline:
            # A sputnik that was just started has not written its PID yet.
            time.sleep(0.01)
            pid = (self.store.read(job_id, "sputnik.pid", "") or "").strip()
        if not pid.isdigit() or not host:
            log("job %s: no sputnik to send %s to" % (job_id, command))
            return None
        sbox = transport.process_address(int(pid), host)
        try:
            answer = request.request(
                sbox, command, timeout=SPUTNIK_TIMEOUT, alive=lambda: transport.exists(sbox)
            )
        except (request.RequestError, transport.Unreachable, OSError) as e:
            log("job %s: %s to sputnik failed: %s" % (job_id, command, e))
            return None
        return answer

    def started(self, args, box):
        job_id = canonical_id(args.strip())
        if job_id and self.store.exists(job_id):
            self.fire(job_id, "JOB_START")
        return None

    def terminated(self, args, box):
        words = args.split()
        job_id = canonical_id(words[0]) if words else None
        if not job_id or not self.store.exists(job_id):
            log("TERMINATED for unknown job %r" % args)
            return None
        value = int(words[1]) if len(words) > 1 and words[1].isdigit() else 1
        if self.store.state(job_id) != states.RUNNING:
            log("TERMINATED %s %d ignored: job is %s" % (job_id, value, self.store.state(job_id)))
            return None
        self.fire(job_id, "JOB_TERMINATION", exit_value=value)
        self.job_ended(job_id, value)
        return None

    def job_ended(self, job_id, value):
        job_type = jobtypes.get(self.store.read(job_id, "job.type", jobtypes.DEFAULT))
        if job_type.evaluate(value) == jobtypes.RESTART:
            restarts = self.store.read(job_id, "job.restarts", "0").strip()
            restarts = int(restarts) if restarts.isdigit() else 0
            if restarts < self.max_restarts:
                self.store.write(job_id, "job.restarts", restarts + 1)
                log("job %s: restart %d of %d" % (job_id, restarts + 1, self.max_restarts))
                self.store.set_state(job_id, states.HELD)
                self.schedule()
                self.store.set_state(job_id, states.QUEUED)
                self.need_schedule = True
                return
        self.store.set_state(job_id, states.FINISHED if value == 0 else states.FAILED)
        self.need_schedule = True
        events.emit("JOB_END", job_id, exit_value=value)

    def mail_notice(self, event, job_id, exit_value=None, reason=None, **_):
        """Per-job mail (``-m``/``-M``), sent from a detached child so that a
        slow or dead mail server never holds up the controller."""
        from . import mail

        if event == "JOB_END":
            if exit_value and mail.wanted(job_id, "a"):
                event = "JOB_ABORT"
            elif mail.wanted(job_id, "e"):
                event = "JOB_TERMINATION"
            else:
                return
        elif not mail.wanted(job_id, mail.EVENT_POINTS[event]):
            return

        def send():
            proc.close_fds()
            try:
                mail.notify(job_id, event, exit_value, reason)
                log("job %s: %s mail sent" % (job_id, event))
            except (mail.MailError, config.ConfigError) as e:
                log("job %s: %s mail not delivered: %s" % (job_id, event, e))

        proc.spawn_session(send)

    def fire(self, job_id, event, exit_value=None):
        events.emit(event, job_id, exit_value=exit_value)
        events.run_services(event, paths.job_file(job_id, "job.env"), exit_value)

    # -- recovery --------------------------------------------------------------------
    def recover(self):
        for line in self.store.reconcile():
            log("store repaired: " + line)
        for state in states.ENDED:
            for job_id in self.store.ids(state):
                if waiters.registrations(job_id):
                    waiters.notify(job_id, self.exit_value(job_id), self.host)
        for job_id in self.store.ids(states.RUNNING):
            spid = (self.store.read(job_id, "sputnik.pid", "") or "").strip()
            host = (self.store.read(job_id, "job.execHost", "") or "").strip()
            if host != self.host or (spid.isdigit() and proc.alive(spid)):
                continue  # still supervised; its sputnik will report the end
            value = (self.store.read(job_id, "job.exit", "") or "").strip()
            starts = len((self.store.read(job_id, "job.start", "") or "").split())
            stops = len((self.store.read(job_id, "job.stop", "") or "").split())
            if not spid:
                log("job %s was marked running but never launched; queued again" % job_id)
                self.store.set_state(job_id, states.QUEUED)
            elif value.isdigit() and stops >= starts > 0:
                log("job %s ended while no controller ran (exit %s)" % (job_id, value))
                self.job_ended(job_id, int(value))
            else:
                log("job %s: its sputnik is gone and no exit was recorded; failed" % job_id)
                self.store.write(job_id, "job.reason", "supervisor lost, no exit value recorded")
                self.store.set_state(job_id, states.FAILED)

    # -- shutdown ----------------------------------------------------------------------
    owner = True

    def shutdown(self):
        super().shutdown()
        if self.owner:
            for f in (paths.gsatlc_pid_file(), paths.gsatlc_host_file()):
                unlink_quiet(f)
        sigfwd.stop()
        log("shut down")


def _reap_children():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def acquire_lock():
    import filelock

    lock = filelock.FileLock(paths.gsatlc_lock_file())
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        raise AlreadyRunning("another gsatlc holds %s" % paths.gsatlc_lock_file())
    return lock


def check_stale(host):
    """Refuse when a live controller (maybe classic, maybe elsewhere) exists."""
    info = liveness.controller()
    if info is None:
        for f in (paths.gsatlc_pid_file(), paths.gsatlc_host_file()):
            unlink_quiet(f)
        return
    other_host, other_pid = info
    if other_host == host and not proc.alive(other_pid):
        log("removing stale gsatlcPid of dead process %d" % other_pid)
        for f in (paths.gsatlc_pid_file(), paths.gsatlc_host_file()):
            unlink_quiet(f)
        return
    raise AlreadyRunning("gsatlc is already running as %d on %s" % (other_pid, other_host))


def main():
    os.umask(0o077)
    base = paths.base()
    try:
        makedirs(base)
        makedirs(paths.log_dir())
        probe = os.path.join(base, ".write-test.%d" % os.getpid())
        write_atomic(probe, "")
        os.unlink(probe)
    except OSError as e:
        sys.stderr.write("gsatlc: cannot write %s: %s\n" % (base, e.strerror))
        return 79
    try:
        JobStore().ensure()
        lock = acquire_lock()
        check_stale(paths.hostname())
    except StoreError as e:
        sys.stderr.write("gsatlc: %s\n" % e)
        return e.code
    except AlreadyRunning as e:
        sys.stderr.write("gsatlc: %s\n" % e)
        return 1
    except config.ConfigError as e:
        sys.stderr.write("gsatlc: configuration: %s\n" % e)
        return 70
    try:
        c = Controller()
    except (scheduler.UnknownScheduler, config.ConfigError) as e:
        sys.stderr.write("gsatlc: configuration: %s\n" % e)
        lock.release()
        return 70
    c.publish()
    proc.become_subreaper()
    try:
        sigfwd.ensure_running()
    except (RuntimeError, OSError) as e:
        log("warning: %s" % e)
    c.recover()
    log("started; box %s, scheduler %s" % (c.box, config.get("scheduler")))
    try:
        c.run()
    finally:
        lock.release()
    return 0
