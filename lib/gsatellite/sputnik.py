"""sputnik: the supervisor of one job (PROTOCOL.md §5 steps 4-10).

A sputnik leads its own session, owns the box ``PID.inbox`` and writes
``sputnik.pid``.  It starts the job in a new session of its own (so the job's
process group id is the job's PID and hold/signal reach children and
grandchildren), records ``job.pid``, ``job.start``, and, being the job's
parent, the exact exit value in ``job.exit``/``job.stop`` (128+N for signal
N) before it reaps the job: until then the job is a zombie that keeps its
status, so whoever inherits it if this sputnik is killed (the controller,
a subreaper) still learns it.  It tells the controller ``STARTED ID`` and
``TERMINATED ID EXIT`` (not after a hold) and keeps retrying until a
controller has the message, so a controller that is down when the job ends
learns about it later.  Once the controller has the end, the same process
may supervise the next job (see "spares" below): one job at a time, so
``sputnik.pid`` of an ended job may name the sputnik of a later one.  A
``HOLD`` that came for the ended job is answered (``HOLD FAILED``) before
the next job starts, and a trigger names its job (``JOB_TRIGGER ID``).

It also accepts the classic runner's messages (``JOB_CHILD_PID``,
``STARTED;``, ``TERMINATED EXIT;``) so a classic ``sputnikRunJob`` can be
supervised.  SIGTERM/SIGINT to the sputnik itself are logged and ignored,
as classic: the job, not its supervisor, is what users signal.

Held means stopped: HOLD sends the job type's hold signal to the job's
group and is answered ``OK`` only once every process of the group is gone;
a group still there after ``hold_grace`` seconds gets SIGKILL.  Then the
sputnik also tells the controller ``HELD ID``, so a controller that gave up
waiting, or was restarted meanwhile, still learns it.

With ``adopt`` it supervises the running job of a lost sputnik, found by
``job.pid`` (:mod:`pidref`), and exits when the job's process has ended;
that exit value is the controller's to record (the job's subreaper).

An exit value that cannot be written (a full disk) stays with the unreaped
job and is written again on every wake-up; the sputnik does not exit
before it is.
"""

import errno
import os
import select
import signal
import time

from . import protocol as P
from . import config, jobenv, jobtypes, liveness, paths, pidref, proc, staging
from .daemon import Daemon
from .job import Job
from .fsutil import append_line, copy_atomic, open_regular, read_first_line, write_all
from . import transport
from .transport import wake
from .log import log
from . import runs
from .protocol import digits

RETRY_SECONDS = 2.0
# Seconds between looks at a held job's group, and at an adopted job.
HOLD_POLL = 0.05
ADOPT_POLL = 0.5


class Sputnik(Daemon):
    name = "sputnik"

    def __init__(self, job_path, job_id):
        self.job_path = job_path
        self.job_id = job_id
        super().__init__()
        self.poll = config.get_float("sputnik_wakeup")
        self.hold_grace = config.get_float("hold_grace")
        self.child = None  # our own child: the job
        self.group = None  # pidref.ProcessRef of the group hold/signal go to
        self.exit = None
        self.job_type = None  # read at the start of our own run
        self.held = False
        self.holding = None  # while a hold waits for the group to be gone
        self.adopted = False  # supervising a job that is not our child
        self.unwritten = None  # time of an end not yet on disk
        self.outbox = []
        self.parent = liveness.Parent()
        self.to = None  # (controller, its address) of the last message
        self.leaving = False  # told to STOP: no next job
        self.assignments = None  # our end of the spare's socket, if any
        self.spare_parent = None  # the controller at its other end, while it holds it
        self.handlers.update(
            {
                P.HOLD: self.hold,
                P.SIGNAL: self.signal_job,
                P.JOB_CHILD_PID: self.runner_pid,
                P.STARTED: self.runner_started,
                P.TERMINATED: self.runner_terminated,
                P.TRIGGER: self.trigger,
                P.TRIGGER_WAIT: self.trigger_wait,
                P.JOB_TRIGGER: self.job_trigger,
                P.JOB_TRIGGER_WAIT: self.job_trigger_wait,
            }
        )
        self.triggers = {}  # run-services pid -> pending --wait trigger
        self.every(self.poll, self.host_alive)

    def take(self, job_id, job_path):
        """Supervise ``job_id`` next.  What came for the job before (a
        HOLD sent while it was ending) is answered first, as for an ended
        job."""
        # The loop that ended the last job set stop, which take_messages
        # obeys: cleared first, or nothing would be answered here.
        self.stop = False
        if self.job_id is not None:
            while self.take_messages():
                pass
        self.job_id, self.job_path = job_id, job_path
        self.child = self.group = self.exit = self.holding = self.unwritten = self.job_type = None
        self.held = self.adopted = self.stop = False

    def offer(self):
        """Before the end is told: say on the socket (``READY``) that this
        sputnik will wait for the next job, if nothing keeps it busy after
        the end (a ``trigger --wait`` still running, an end not yet on
        disk).  The controller hands a job over only after that byte, so a
        job is never written to a sputnik that is not about to read it."""
        if self.assignments is not None and self.reusable():
            try:
                os.write(self.assignments, READY)
            except OSError:
                pass  # the controller is gone, its end of the socket with it

    def reusable(self):
        return (self.exit is not None and not self.held and not self.adopted and not self.outbox
                and self.unwritten is None and self.child is None and not self.triggers
                and self.holding is None and not self.leaving)

    def handle_stop(self, args, box):
        self.leaving = True
        return super().handle_stop(args, box)

    def make_inbox(self):
        # One sputnik per job: the registry sweep (a directory listing and
        # a look at every queue) is left to the controller's start and to
        # every daemon's timer, ours included.
        return transport.open_inbox(self.pid, limit=self.limit, sweep=False)

    def file(self, name):
        return paths.job_file(self.job_id, name)

    def host_alive(self):
        """Every ``sputnik_wakeup``: beat this host's heartbeat (a controller
        elsewhere must not take the host for lost while its jobs run,
        issue 17) and, when the controller runs on another host, start this
        host's forwarder again if it died (HOLD and SIGNAL wake us through it)."""
        from . import hosts, sigfwd

        hosts.beat()
        info = liveness.controller(verify=False)
        if info is not None and info[0] != self.host:
            try:
                sigfwd.ensure_running(wait=False)
            except (RuntimeError, OSError) as e:
                log("cannot start the signal forwarder: %s" % e)

    # -- starting ---------------------------------------------------------------
    def start(self):
        pidref.write_pid_file(self.file("sputnik.pid"), self.pid, pidref.own_start_time())
        self.keep_earlier_output()
        job_type = self.job_type = read_first_line(self.file("job.type"), "") or jobtypes.DEFAULT
        name = os.path.basename(self.job_path)
        env = jobenv.build(self.job_id, name, job_type, self.host, Job(self.job_id).proxy_request)
        jobenv.write(self.job_id, env)
        # The start is recorded before the job can run: if this sputnik is
        # killed between the spawn and job.pid, the controller must not take
        # the run for one that never began and start the job a second time.
        append_line(self.file("job.start"), str(int(time.time())))
        try:
            staging.prepare_run(self.job_id)
        except OSError as e:
            return self.not_started("cannot place the staged-in file %s: %s" % (e.filename, e.strerror or e), 126)
        try:
            pid = self._spawn_job(env)
        except OSError as e:
            return self.not_started("cannot run %s: %s" % (self.job_path, e.strerror),
                                    126 if e.errno in (errno.EACCES, errno.ENOEXEC) else 127)
        self.child = pid
        # The child exists until we reap it, so its start time is its own.
        self.group = pidref.ProcessRef.of(pid) or pidref.ProcessRef(pid)
        try:
            pidref.write_pid_file(self.file("job.pid"), pid, self.group.start)
        except OSError as e:
            # The job runs and we are its parent: its end is still ours to tell.
            log("cannot record the start of job %s: %s" % (self.job_id, e))
        log("job %s started as pid %d" % (self.job_id, pid))
        self.tell_controller(P.started(self.job_id))

    def not_started(self, why, value):
        """The run could not begin: ``why`` goes to the job's stderr, and
        the run ends with ``value``."""
        append_line(self.file("job.stderr"), "sputnik: " + why)
        log("job %s could not be started: %s" % (self.job_id, why))
        self.tell_controller(P.started(self.job_id))
        self.record_exit(value)

    def keep_earlier_output(self):
        """Before this run: the last run's output becomes job.stdout.N and
        job.stderr.N (runs.rotate), so job.stdout/job.stderr hold this run
        only, as the classic runner kept them."""
        try:
            runs.rotate(paths.job_dir(self.job_id))
        except OSError as e:
            log("job %s: earlier output not moved aside, appending: %s" % (self.job_id, e))

    def adopt(self):
        """Supervise the running job of a lost sputnik (PROTOCOL.md §7)."""
        pidref.write_pid_file(self.file("sputnik.pid"), self.pid, pidref.own_start_time())
        self.adopted = True
        self.poll = min(self.poll, ADOPT_POLL)
        self.group = pidref.read_pid_file(self.file("job.pid"), group=True)
        if self.group is None:
            log("job %s: nothing left to adopt" % self.job_id)
        else:
            log("job %s: adopted its process %d" % (self.job_id, self.group.pid))

    def _spawn_job(self, env):
        """Start the job in its own session with posix_spawn: no Python runs
        in the child, so starting a job costs no copy of our memory.  The
        sputnik's own working directory is the job's (it uses absolute paths
        only), because posix_spawn cannot change directory."""
        os.chdir(paths.job_tmp_dir(self.job_id))
        full = jobenv.process_environment(env)
        # A regular file only, opened without blocking: a FIFO put in the
        # copy's place must not hang us (it fails the start instead).
        fd = open_regular(self.job_path)
        try:
            shebang = os.read(fd, 2) == b"#!"
            mode = os.fstat(fd).st_mode
        finally:
            os.close(fd)
        if shebang and not mode & 0o100:
            # A classic controller copies the job with plain cp; its runner
            # made the copy executable, so we do too.
            os.chmod(self.job_path, mode | 0o700)
        # Like the classic tools: bash runs what has no #! line itself.
        path, argv = (self.job_path, [self.job_path]) if shebang else ("/bin/bash", ["bash", self.job_path])
        # O_NONBLOCK: a FIFO as job.stdout fails the start (ENXIO) instead
        # of stopping the child's open, and us with it (posix_spawn waits
        # for the exec); a regular file ignores the flag.
        append = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NONBLOCK
        return os.posix_spawn(
            path,
            argv,
            full,
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (os.POSIX_SPAWN_OPEN, 1, self.file("job.stdout"), append, 0o600),
                (os.POSIX_SPAWN_OPEN, 2, self.file("job.stderr"), append, 0o600),
            ],
            setsid=True,
            setsigmask=(),
            # A job starts with every signal at its default, as under a batch
            # system.  Named in full, glibc's posix_spawn sets each once; any
            # signal left out it first asks about, then sets: twice the calls.
            setsigdef=proc.DEFAULT_SIGNALS,
        )

    # -- talking to the controller ------------------------------------------
    def tell_controller(self, command):
        self.outbox.append(command)
        self.deliver()

    def deliver(self):
        while self.outbox:
            if self.tell_over_socket(self.outbox[0]):
                log("told controller over its socket: %s" % self.outbox.pop(0))
                continue
            info = self.parent.controller()
            if info is None:
                return False
            host, pid = info
            try:
                if self.to is None or self.to[0] != info:
                    self.to = (info, transport.process_address(pid, host))
                to = self.to[1]
                transport.send(to, P.message(self.outbox[0], self.inbox.address_for(to)))
            except (transport.Unreachable, OSError):
                self.to = None
                return False
            transport.signal_process(host, pid)
            log("told controller: %s" % self.outbox.pop(0))
        return True

    def tell_over_socket(self, command):
        """A spare's message to the controller that holds its socket: one
        write there and a SIGCONT, no message file or queue (on a file
        system that frees inodes slowly, a drain's most costly files).
        False when that controller is gone (we are another's orphan, or its
        end is closed): the message then goes through the transport, to
        whichever controller runs, as any sputnik's does."""
        parent = self.spare_parent
        if parent is None or self.assignments is None or os.getppid() != parent:
            return False
        try:
            data = frame(P.message(command, self.inbox.address))
        except ValueError:
            return False  # too long for one write: this one through the transport
        try:
            write_all(self.assignments, data)
        except OSError:
            self.spare_parent = None
            return False
        wake.kill(parent)
        return True

    # -- the job's end ----------------------------------------------------------
    def reap(self):
        """Reap every child: the job, and run-services of triggers.  The
        job is reaped only once its end is on disk; until then (a full
        disk) it stays an unreaped zombie and nothing else is reaped."""
        while True:
            ended = proc.peek_ended_child()
            if ended is None:
                return
            pid, value = ended
            if pid == self.child:
                if self.exit is None:
                    self.exit, self.unwritten = value, time.time()
                if not self.write_end():
                    return  # tick() tries again
                proc.reap_child(pid)
                self.child = None
                self.record_exit(value, written=True)
                continue
            proc.reap_child(pid)
            if pid in self.triggers:
                self.trigger_done(pid, value)

    def record_exit(self, value, written=False):
        """The job ended with ``value``; ``written``: its end is on record
        (by reap(), or a runner wrote job.stop/job.exit)."""
        self.exit = value
        if not written:
            self.unwritten = time.time()
            self.write_end()
        log("job %s exited with %d%s" % (self.job_id, value, " (held)" if self.held else ""))
        if not self.held and self.ended_for_good(value):
            self.stage_out()
        self.copy_outputs()
        if not self.held:
            self.offer()
            self.tell_controller(P.terminated(self.job_id, value))

    def write_end(self):
        """Record the end unless it is on disk; True once it is."""
        if self.unwritten is None:
            return True
        try:
            runs.record_end(paths.job_dir(self.job_id), self.exit, self.unwritten)
        except OSError as e:
            log("cannot record the end of job %s (%s); will retry" % (self.job_id, e.strerror or e))
            return False
        self.unwritten = None
        return True

    def ended_for_good(self, value):
        """Not to be run again (the controller's rule, jobtypes.runs_again)."""
        restarts = (read_first_line(self.file("job.restarts"), "") or "").strip()
        try:
            limit = config.get_int("max_restarts")
        except config.ConfigError:
            limit = int(config.DEFAULTS["max_restarts"])
        # A job's type is set at its submission: read once per run.
        job_type = self.job_type or read_first_line(self.file("job.type"), "") or jobtypes.DEFAULT
        return not jobtypes.runs_again(job_type, value, int(restarts) if digits(restarts) else 0, limit)

    def stage_out(self):
        """``-O``: copy the result files before the end is told, so whoever
        waits for the end finds them.  What is not copied is said on the
        job's stderr too (and -o copies it along)."""
        try:
            failed = staging.stage_out(self.job_id)
        except OSError as e:
            log("job %s: stage-out not recorded (%s); the controller tries again" % (self.job_id, e))
            return
        for line in failed:
            log(line)
            try:
                append_line(self.file("job.stderr"), "sputnik: " + line)
            except OSError:
                pass

    def copy_outputs(self):
        """``-o``/``-e``: copy the job's streams where the user asked.  On
        failure the original stays in the job directory and the reason goes
        to ``job.outputError`` and the log."""
        for attr, stream in (("job.stdoutPath", "job.stdout"), ("job.stderrPath", "job.stderr")):
            dest = read_first_line(self.file(attr), "")
            if not dest:
                continue
            try:
                copy_atomic(self.file(stream), dest)
                log("copied %s to %s" % (stream, dest))
            except OSError as e:
                reason = "cannot copy %s to %s: %s" % (stream, dest, e.strerror or e)
                log(reason)
                append_line(self.file("job.outputError"), reason)

    def on_signal(self, signo):
        if signo == signal.SIGCHLD:
            self.reap()
        elif signo in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            log("%s received and ignored" % wake.signal_name(signo))

    def tick(self):
        if not os.path.isdir(paths.job_dir(self.job_id)):
            # The store (or all of $HOME/.gsatellite) was removed: there is
            # nobody left to report to.
            log("job directory of %s is gone; exiting" % self.job_id)
            self.stop = True
            return 0
        self.reap()
        if self.adopted and self.exit is None and self.group is not None and not self.group.alive():
            status = self.group.ended_status()
            if status is not None:
                # Not our child, but nobody reaped it: its exit value is
                # still there to read.
                log("adopted job %s has ended; read its exit status from /proc" % self.job_id)
                self.record_exit(proc.exit_value(status))
            else:
                log("adopted job %s has ended" % self.job_id)
            self.group = None
        written = self.write_end()
        delivered = self.deliver()
        ended = self.exit is not None or (self.adopted and self.group is None)
        if ended and delivered and written and not self.triggers and self.holding is None:
            self.stop = True
        return self.poll if delivered and written else min(self.poll, RETRY_SECONDS)

    # -- verbs ------------------------------------------------------------------------
    def _signal_group(self, sig):
        if self.group is None or self.exit is not None:
            return False
        if self.group.signal_group(sig):
            return True
        log("kill -%s -%d not sent: the group is gone or no longer the job's"
            % (wake.signal_name(sig), self.group.pid))
        return False

    def hold(self, args, box):
        """Signal the group; answered ``OK`` by :meth:`check_held` once the
        group is gone, so a job that ignores the signal is never taken for
        held while it runs."""
        if self.holding is None:
            job_type = read_first_line(self.file("job.type"), "") or jobtypes.DEFAULT
            sig = jobtypes.get(job_type).HOLD_SIGNAL
            if not self._signal_group(sig):
                return P.HOLD_FAILED
            self.held = True
            log("job %s: hold signal %s sent" % (self.job_id, wake.signal_name(sig)))
            self.holding = {"boxes": [], "kill": self.call_later(self.hold_grace, self.kill_held)}
            self.call_later(HOLD_POLL, self.check_held)
        self.holding["boxes"].append(box)
        return None

    def kill_held(self):
        if self.holding is not None and self.group is not None:
            log("job %s still runs %g s after the hold signal; SIGKILL" % (self.job_id, self.hold_grace))
            self.group.signal_group(signal.SIGKILL)

    def check_held(self):
        if self.holding is None:
            return
        self.reap()
        if self.group is not None and self.group.group_alive():
            self.call_later(HOLD_POLL, self.check_held)
            return
        holding, self.holding = self.holding, None
        self.cancel(holding["kill"])
        log("job %s held: its processes are gone" % self.job_id)
        for box in holding["boxes"]:
            self.reply(box, P.OK)
        self.tell_controller(P.held(self.job_id))

    def signal_job(self, args, box):
        try:
            sig = wake.signal_number(P.parse_signal(args))
        except ValueError:
            return P.SIGNAL_FAILED
        return P.OK if self._signal_group(sig) else P.SIGNAL_FAILED

    def _run_trigger(self, args, wait):
        from . import events, triggers

        name, _, rest = args.partition(" ")
        problem = triggers.check_name(name)
        if problem:
            log("TRIGGER refused: %s" % problem)
            return None, P.trigger_failed(problem)
        values = triggers.decode_args(rest)
        append_line(self.file("job.events"), triggers.event_line(time.time(), name, values))
        extra = {"GSAT_EVENT_ARGS": " ".join(values)}
        if wait:
            extra["GSAT_RUN_SERVICES_WAIT"] = "1"
        started = events.run_services(name, self.file("job.env"), extra_env=extra)
        return started, None

    def trigger(self, args, box):
        _, problem = self._run_trigger(args, wait=False)
        return problem or P.OK

    def trigger_wait(self, args, box):
        started, problem = self._run_trigger(args, wait=True)
        if problem:
            return problem
        if not started:
            return P.OK
        pending = {"box": box, "left": {p.pid for p in started}, "failed": False}
        for p in started:
            self.triggers[p.pid] = pending
        return None  # answered by trigger_done

    def job_trigger(self, args, box):
        return self._for_this_job(args, box, self.trigger)

    def job_trigger_wait(self, args, box):
        return self._for_this_job(args, box, self.trigger_wait)

    def _for_this_job(self, args, box, handler):
        """A trigger that names its job: a sputnik that has gone on to
        another job (:func:`serve_spare`) refuses one sent for the last."""
        job_id, _, rest = args.partition(" ")
        if job_id != self.job_id:
            log("trigger for job %r refused: this sputnik supervises job %s" % (job_id, self.job_id))
            return P.trigger_failed("job %s has ended" % job_id)
        return handler(rest, box)

    def trigger_done(self, pid, value):
        pending = self.triggers.pop(pid)
        pending["left"].discard(pid)
        pending["failed"] = pending["failed"] or value != 0
        if not pending["left"]:
            self.reply(pending["box"], P.FAILED if pending["failed"] else P.OK)

    def runner_pid(self, args, box):
        pid = P.parse_child_pid(args)
        if pid is not None:
            # Told by the runner that just started it: the process there now
            # is the one to remember.
            self.group = pidref.ProcessRef.of(pid) or pidref.ProcessRef(pid)
        return None

    def runner_started(self, args, box):
        self.tell_controller(P.started(self.job_id))
        return None

    def runner_terminated(self, args, box):
        if self.exit is None:
            self.record_exit(P.parse_runner_exit(args), written=True)
        return None


def _become_sputnik(*title):
    """What every sputnik does first, before it knows its job."""
    os.umask(0o077)
    from . import log as logmod

    logmod.set_name("sputnik")
    proc.set_name("sputnik", *title)
    proc.become_subreaper()


def _take_job(job_id):
    proc.set_name("sputnik", job_id)
    try:
        proc.redirect(os.devnull, paths.job_file(job_id, "sputnik.log"))
    except OSError:
        pass


def supervise(job_path, job_id, adopt=False, parent=None):
    """Body of a sputnik process (already a session leader); ``parent``:
    the controller that forked it, which must still live once the process
    bears the job's name (see serve_spare)."""
    _become_sputnik()
    _take_job(job_id)
    if parent is not None and os.getppid() != parent:
        log("job %s: the controller that started me is gone; left to the next one" % job_id)
        return 0
    s = Sputnik(job_path, job_id)
    return _run(s, adopt)


def _run(s, adopt=False):
    if not _start(s, adopt):
        return 1
    s.run()
    return 0


def _start(s, adopt=False):
    try:
        s.adopt() if adopt else s.start()
    except OSError as e:
        log("cannot start job %s: %s" % (s.job_id, e))
        if adopt:
            return False
        s.record_exit(127)
    return True


def launch(job_path, job_id, adopt=False, for_controller=False):
    """Start a detached sputnik for the job from this (already loaded)
    interpreter: no new Python start-up per job.  ``for_controller``: we
    are the controller, and the sputnik leaves the job if we die before it
    bears the job's name (see serve_spare); sputnikd, which a classic
    controller runs, exits at once and is no such parent."""
    parent = os.getpid() if for_controller else None

    def body():
        proc.close_fds()
        return supervise(job_path, job_id, adopt, parent)

    return proc.spawn_session(body)


# -- spares ---------------------------------------------------------------------------
# A spare is a sputnik started before its job is known: it has done all that
# does not depend on the job (fork, session, inbox) and waits on a socket
# (a pair with the controller) for ``ID PATH\0``.  Taking a job from the
# queue then costs a write instead of a fork and a daemon's set-up, which is
# most of the time from one job's end to the next one's start.  A sputnik
# whose job has ended says ``READY`` on the socket just before it tells the
# end, if nothing will keep it busy afterwards, and waits there again: the
# controller hands it the next job only after that byte, or closes the
# socket.  So a drain forks no process per job but the job's own, and the
# controller's pages are not shared with a new child per job (a
# copy-on-write fault for every page either side then writes, some 1,300
# per job, issue 18).  The other end is held by the controller alone: when
# the controller closes it (no more jobs waiting) or dies, the sputnik
# reads end-of-file and exits without a trace.
ASSIGNMENT_MAX = 65536
READY = b"R"
# A spare's message to the controller on its socket: ``M`` + the message as
# the transport carries it (``COMMAND;FROM``) + NUL, mixed with READY bytes.
MESSAGE = b"M"
MESSAGE_MAX = select.PIPE_BUF


def frame(message):
    """The socket's bytes for ``message`` (ValueError if they would not go
    in one write of at most PIPE_BUF bytes, or hold a NUL)."""
    data = MESSAGE + message.encode("utf-8", "surrogateescape") + b"\0"
    if len(data) > MESSAGE_MAX or b"\0" in data[:-1]:
        raise ValueError("message does not fit the spare's socket")
    return data


def read_frames(fd, buf):
    """Read what the spare at the end of ``fd`` has written (never waits:
    ``fd`` is readable, or the read gives EAGAIN) after ``buf``, the start
    of a message read before.  Returns ``(ready, messages, buf, ok)``:
    how many READY bytes, the whole messages, what is left of one not yet
    whole, and False at end-of-file or for bytes no sputnik writes (the
    spare is then let go)."""
    try:
        data = os.read(fd, ASSIGNMENT_MAX)
    except BlockingIOError:
        data = None
    except OSError:
        return 0, [], b"", False
    if data == b"":
        return 0, [], b"", False
    buf += data or b""
    ready, messages = 0, []
    while buf:
        if buf[:1] == READY:
            ready += 1
            buf = buf[1:]
        elif buf[:1] == MESSAGE:
            end = buf.find(b"\0")
            if end < 0:
                return ready, messages, buf, len(buf) <= MESSAGE_MAX
            messages.append(buf[1:end].decode("utf-8", "surrogateescape"))
            buf = buf[end + 1:]
        else:
            return ready, messages, b"", False
    return ready, messages, buf, True


def launch_spare():
    """Start a spare sputnik; returns ``(pid, fd)``, ``fd`` the controller's
    end of its socket, to write the job to (:func:`assign`),
    to read ``READY`` and messages from (:func:`read_frames`) or to close
    (OSError)."""
    import socket

    # Made here once, the user database look-up is inherited by every spare
    # instead of being made by each (a name-service round per job).
    jobenv.logname()
    ours, theirs = socket.socketpair()
    w, r = ours.detach(), theirs.detach()
    try:
        def body():
            os.close(w)
            proc.close_fds(keep=(0, 1, 2, r))
            return serve_spare(r)

        pid = proc.spawn_session(body)
    except BaseException:
        os.close(w)
        raise
    finally:
        os.close(r)
    return pid, w


def _assignment(job_path, job_id):
    return ("%s %s\0" % (job_id, job_path)).encode("utf-8", "surrogateescape")


def fits(job_path, job_id):
    """Can the job be handed over a spare's socket (:func:`assign`)?"""
    return len(_assignment(job_path, job_id)) <= select.PIPE_BUF


def assign(fd, job_path, job_id):
    """Hand a job to the spare at the end of ``fd`` (OSError if it is gone:
    BrokenPipeError).  One write of at most PIPE_BUF bytes into the empty
    socket arrives whole or not at all."""
    data = _assignment(job_path, job_id)
    if len(data) > select.PIPE_BUF:
        raise OSError(errno.E2BIG, "job path too long for a spare sputnik")
    if os.write(fd, data) != len(data):
        raise OSError(errno.EIO, "short write to a spare sputnik")


def _read_assignment(fd):
    """``(job_id, job_path)`` once written, None at end-of-file."""
    data = b""
    while not data.endswith(b"\0"):
        chunk = os.read(fd, ASSIGNMENT_MAX)
        if not chunk:
            return None
        data += chunk
    job_id, _, job_path = data[:-1].decode("utf-8", "surrogateescape").partition(" ")
    return job_id, job_path


def serve_spare(fd):
    """Body of a spare: set up, wait for a job (or the end), supervise it;
    then wait for the next job.  Until it has a job it is called
    ``sputnik spare`` (not its parent's command line, which ``pgrep -f
    gsatlc`` would find)."""
    _become_sputnik("spare")
    parent = os.getppid()
    s = Sputnik(None, None)
    s.assignments, s.spare_parent = fd, parent
    try:
        while True:
            try:
                assignment = _read_assignment(fd)
            except OSError:
                assignment = None
            if assignment is None:
                return 0
            s.take(*assignment)
            # Named for the job first, then the parent checked: a job written
            # by a controller that has died since is the next controller's
            # to start, and that one takes a process of this name for the
            # job's sputnik (lifecycle.lost_before_start), never starting a
            # second; so the name must come before the last look.
            _take_job(s.job_id)
            if os.getppid() != parent:
                return 0
            _start(s)
            s.loop()
            if not s.reusable():
                return 0
            # Not the last job's name while it waits: a process named
            # "sputnik ID" is taken for that job's (lifecycle.found_unrecorded_job).
            proc.set_name("sputnik", "spare")
    finally:
        os.close(fd)
        s.shutdown()
