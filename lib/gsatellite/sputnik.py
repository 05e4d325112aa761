"""sputnik: the supervisor of one job (PROTOCOL.md §5 steps 4-10).

A sputnik leads its own session, owns the box ``PID.inbox`` and writes
``sputnik.pid``.  It starts the job in a new session of its own (so the job's
process group id is the job's PID and hold/signal reach children and
grandchildren), records ``job.pid``, ``job.start``, and, being the job's
parent, the exact exit value in ``job.stop``/``job.exit`` (128+N for signal
N).  It tells the controller ``STARTED ID`` and ``TERMINATED ID EXIT`` (not
after a hold) and keeps retrying until a controller has the message, so a
controller that is down when the job ends learns about it later.

It also accepts the classic runner's messages (``JOB_CHILD_PID``,
``STARTED;``, ``TERMINATED EXIT;``) so a classic ``sputnikRunJob`` can be
supervised.  SIGTERM/SIGINT to the sputnik itself are logged and ignored,
as classic: the job, not its supervisor, is what users signal.
"""

import errno
import os
import signal
import time

from . import protocol as P
from . import config, jobenv, jobtypes, liveness, paths, proc
from .daemon import Daemon
from .fsutil import append_line, copy_atomic, read_first_line, write_atomic
from . import transport
from .transport import wake
from .log import log

RETRY_SECONDS = 2.0
# Dispositions a job must start with at their default: Python ignores
# SIGPIPE and SIGXFSZ, and exec keeps ignored signals ignored.
JOB_DEFAULT_SIGNALS = (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGTERM,
                       signal.SIGHUP, signal.SIGQUIT, signal.SIGCHLD, signal.SIGCONT)


class Sputnik(Daemon):
    name = "sputnik"

    def __init__(self, job_path, job_id):
        self.job_path = job_path
        self.job_id = job_id
        super().__init__()
        self.poll = config.get_float("sputnik_wakeup")
        self.child = None  # our own child: the job
        self.group = None  # process group that hold/signal go to
        self.exit = None
        self.held = False
        self.outbox = []
        self.handlers.update(
            {
                P.HOLD: self.hold,
                P.SIGNAL: self.signal_job,
                P.JOB_CHILD_PID: self.runner_pid,
                P.STARTED: self.runner_started,
                P.TERMINATED: self.runner_terminated,
                P.TRIGGER: self.trigger,
                P.TRIGGER_WAIT: self.trigger_wait,
            }
        )
        self.triggers = {}  # run-services pid -> pending --wait trigger

    def file(self, name):
        return paths.job_file(self.job_id, name)

    # -- starting ---------------------------------------------------------------
    def start(self):
        write_atomic(self.file("sputnik.pid"), "%d\n" % self.pid)
        job_type = read_first_line(self.file("job.type"), "") or jobtypes.DEFAULT
        name = os.path.basename(self.job_path)
        env = jobenv.build(self.job_id, name, job_type, self.host)
        jobenv.write(self.job_id, env)
        try:
            pid = self._spawn_job(env)
        except OSError as e:
            append_line(self.file("job.stderr"), "sputnik: cannot run %s: %s" % (self.job_path, e.strerror))
            log("job %s could not be started: %s" % (self.job_id, e))
            append_line(self.file("job.start"), str(int(time.time())))
            self.tell_controller(P.started(self.job_id))
            self.record_exit(126 if e.errno in (errno.EACCES, errno.ENOEXEC) else 127)
            return
        self.child = self.group = pid
        write_atomic(self.file("job.pid"), "%d\n" % pid)
        append_line(self.file("job.start"), str(int(time.time())))
        log("job %s started as pid %d" % (self.job_id, pid))
        self.tell_controller(P.started(self.job_id))

    def _spawn_job(self, env):
        """Start the job in its own session with posix_spawn: no Python runs
        in the child, so starting a job costs no copy of our memory.  The
        sputnik's own working directory is the job's (it uses absolute paths
        only), because posix_spawn cannot change directory."""
        os.chdir(paths.job_tmp_dir(self.job_id))
        full = jobenv.process_environment(env)
        with open(self.job_path, "rb") as f:
            shebang = f.read(2) == b"#!"
            mode = os.fstat(f.fileno()).st_mode
        if shebang and not mode & 0o100:
            # A classic controller copies the job with plain cp; its runner
            # made the copy executable, so we do too.
            os.chmod(self.job_path, mode | 0o700)
        # Like the classic tools: bash runs what has no #! line itself.
        path, argv = (self.job_path, [self.job_path]) if shebang else ("/bin/bash", ["bash", self.job_path])
        append = os.O_WRONLY | os.O_CREAT | os.O_APPEND
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
            setsigdef=JOB_DEFAULT_SIGNALS,
        )

    # -- talking to the controller ------------------------------------------
    def tell_controller(self, command):
        self.outbox.append(command)
        self.deliver()

    def deliver(self):
        while self.outbox:
            info = liveness.controller()
            if info is None:
                return False
            host, pid = info
            if host == self.host and not proc.alive(pid):
                return False  # a killed controller's files; wait for the next one
            try:
                to = transport.process_address(pid, host)
                transport.send(to, P.message(self.outbox[0], self.inbox.address_for(to)))
            except (transport.Unreachable, OSError):
                return False
            transport.signal_process(host, pid)
            log("told controller: %s" % self.outbox.pop(0))
        return True

    # -- the job's end ----------------------------------------------------------
    def reap(self):
        """Reap every child: the job, and run-services of triggers."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid == self.child and self.exit is None:
                self.record_exit(proc.exit_value(status))
            elif pid in self.triggers:
                self.trigger_done(pid, proc.exit_value(status))

    def record_exit(self, value, written=False):
        """The job ended with ``value``; ``written``: a runner already wrote
        job.stop/job.exit."""
        self.exit = value
        if not written:
            append_line(self.file("job.stop"), str(int(time.time())))
            write_atomic(self.file("job.exit"), "%d\n" % value)
        log("job %s exited with %d%s" % (self.job_id, value, " (held)" if self.held else ""))
        self.copy_outputs()
        if not self.held:
            self.tell_controller(P.terminated(self.job_id, value))

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
        delivered = self.deliver()
        if self.exit is not None and delivered and not self.triggers:
            self.stop = True
        return self.poll if delivered else min(self.poll, RETRY_SECONDS)

    # -- verbs ------------------------------------------------------------------------
    def _signal_group(self, sig):
        if self.group is None or self.exit is not None:
            return False
        try:
            os.killpg(self.group, sig)
            return True
        except OSError as e:
            log("kill -%s -%d failed: %s" % (wake.signal_name(sig), self.group, e))
            return False

    def hold(self, args, box):
        job_type = read_first_line(self.file("job.type"), "") or jobtypes.DEFAULT
        sig = jobtypes.get(job_type).HOLD_SIGNAL
        if self._signal_group(sig):
            self.held = True
            log("job %s held with %s" % (self.job_id, wake.signal_name(sig)))
            return P.OK
        return P.HOLD_FAILED

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
        append_line(self.file("job.events"), "%d %s %s" % (time.time(), name, " ".join(values)))
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

    def trigger_done(self, pid, value):
        pending = self.triggers.pop(pid)
        pending["left"].discard(pid)
        pending["failed"] = pending["failed"] or value != 0
        if not pending["left"]:
            self.reply(pending["box"], P.FAILED if pending["failed"] else P.OK)

    def runner_pid(self, args, box):
        pid = P.parse_child_pid(args)
        if pid is not None:
            self.group = pid
        return None

    def runner_started(self, args, box):
        self.tell_controller(P.started(self.job_id))
        return None

    def runner_terminated(self, args, box):
        if self.exit is None:
            self.record_exit(P.parse_runner_exit(args), written=True)
        return None


def supervise(job_path, job_id):
    """Body of a sputnik process (already a session leader)."""
    os.umask(0o077)
    from . import log as logmod

    logmod.set_name("sputnik")
    proc.set_name("sputnik", job_id)
    proc.become_subreaper()
    try:
        proc.redirect(os.devnull, paths.job_file(job_id, "sputnik.log"))
    except OSError:
        pass
    s = Sputnik(job_path, job_id)
    try:
        s.start()
    except OSError as e:
        log("cannot start job %s: %s" % (job_id, e))
        s.record_exit(127)
    s.run()
    return 0


def launch(job_path, job_id):
    """Start a detached sputnik for the job from this (already loaded)
    interpreter: no new Python start-up per job."""

    def body():
        proc.close_fds()
        return supervise(job_path, job_id)

    return proc.spawn_session(body)
