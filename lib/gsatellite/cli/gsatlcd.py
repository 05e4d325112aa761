"""gsatlcd {--start|--stop|--status}: control this $HOME's controller.

``--start`` returns 0 only once a controller answers ``ALIVE?``, which it
does only after its first scheduling pass, so a ``gqsub`` right after it
works and a controller that dies on its store is reported (non-zero, with
the last line of its log).  Several ``--start`` at once all return 0 once
one controller serves: the gsatlc that loses the race for the lock exits,
and its gsatlcd waits for the winner.  A stale ``gsatlcPid`` left by a
killed controller is recognised by gsatlc itself and replaced.  The
settings are checked first (exit 70 naming the bad key).  ``--stop`` signals
only the process ``gsatlcPid`` was written for (:mod:`gsatellite.pidref`);
a PID that now names another process is never signalled.  It stops
the controller but leaves running jobs running: their sputniks keep
supervising them and report their ends to the next controller.

Hosts sharing ``$HOME`` (issue 17): ``--start`` while a controller lives
on another host prints ``gsatlc is running on HOST as PID N`` and exits
0 without starting anything; once that host is gone (its ``gsatlcPid``
stale) any host may start one, and the controller's claim
(:mod:`gsatellite.controller.claim`) lets exactly one win.  ``--watch``
stays in the foreground and does ``--start`` every ``WATCH_SECONDS`` when
no controller is alive anywhere, so the queue survives the loss of a host
without anyone logging in.
"""

import os
import sys
import time

from .. import protocol as P
from .. import config, liveness, paths, pidref, proc
from ..fsutil import makedirs, open_append, read_first_line, unlink_quiet
from .. import transport
from ..transport import request
from .common import EX_FAIL, err, program

USAGE = "usage: gsatlcd {--start|--stop|--status}\n"
START_TIMEOUT = 20.0
# Seconds between two looks of --watch: a controller takes over at most
# this long after the liveness rule calls the old one gone (5 s).
WATCH_SECONDS = 10.0


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    prog = program()
    if argv and argv[0] in ("--install-cron", "--remove-cron", "--paths"):
        from .. import autostart

        return autostart.main(prog, argv)
    if len(argv) != 1 or argv[0] not in ("--start", "--stop", "--status", "--watch"):
        sys.stdout.write(USAGE)
        return EX_FAIL
    os.umask(0o077)
    try:
        return {"--start": start, "--stop": stop, "--status": status, "--watch": watch}[argv[0]](prog)
    except config.ConfigError as e:
        err(prog, "configuration: %s" % e)
        return 70


def answers(box, timeout=5.0):
    try:
        return request.request(box, P.ALIVE, timeout=timeout) == P.YES
    except (request.RequestError, transport.Unreachable, OSError):
        return False


def status(prog):
    info = liveness.controller()
    if info is None:
        return EX_FAIL
    sys.stdout.write('gsatlc hostname="%s"\ngsatlc PID="%d"\n' % info)
    return 0


def start(prog):
    config.check_all()
    info = liveness.controller()
    if info is not None and info[0] != paths.hostname():
        # Alive by the liveness rule on another host: that one serves
        # every host of this $HOME (issue 17).
        _running_on(info)
        return 0
    box = liveness.controller_box()
    if box is not None and answers(box):
        return 0
    try:
        makedirs(paths.log_dir())
    except OSError as e:
        err(prog, "cannot create %s: %s" % (paths.log_dir(), e.strerror))
        return 79
    log_file = paths.gsatlc_log()
    try:
        out = open(open_append(log_file), "ab")
    except OSError as e:
        err(prog, "cannot write %s: %s" % (log_file, e.strerror))
        return 79
    with out:
        p = proc.start_daemon("gsatlc", out)
    deadline = time.monotonic() + START_TIMEOUT
    code = None
    while time.monotonic() < deadline:
        if code is None:
            code = p.poll()
            if code not in (None, EX_FAIL):
                err(prog, "gsatlc exited with %d: %s" % (code, _last_line(log_file)))
                return code or EX_FAIL
        # Exit 1: another controller holds the lock (a parallel --start);
        # it counts once it serves.
        info = liveness.controller()
        if info is not None and (code is not None or info[1] == p.pid) and \
                answers(transport.process_address(info[1], info[0]), 2.0) and (code is not None or p.poll() is None):
            if code is not None and info[0] != paths.hostname():
                _running_on(info)  # another host won a takeover at the same moment
            return 0
        time.sleep(0.02)
    if code is not None:
        err(prog, "gsatlc exited with %d: %s" % (code, _last_line(log_file)))
        return code or EX_FAIL
    err(prog, "gsatlc did not answer within %d s (see %s)" % (START_TIMEOUT, log_file))
    return EX_FAIL


def watch(prog, sleep=time.sleep, rounds=None):
    """Start a controller here whenever none is alive anywhere; runs until
    killed (SIGTERM) or interrupted.  Each look costs a stat of gsatlcPid."""
    config.check_all()
    sys.stdout.write("gsatlcd: watching; a controller is started here when none runs\n")
    sys.stdout.flush()
    try:
        while rounds is None or rounds > 0:
            if liveness.controller() is None:
                start(prog)
                sys.stdout.flush()
            if rounds is not None:
                rounds -= 1
            sleep(WATCH_SECONDS)
    except KeyboardInterrupt:
        return 130
    return 0


def _running_on(info):
    sys.stdout.write("gsatlc is running on %s as PID %d\n" % info)


def _last_line(path):
    try:
        with open(path, "rb") as f:
            lines = f.read().decode("utf-8", "replace").strip().splitlines()
        return lines[-1] if lines else "(no log)"
    except OSError:
        return "(no log)"


def stop(prog):
    pid = read_first_line(paths.gsatlc_pid_file(), "")
    host = read_first_line(paths.gsatlc_host_file(), "")
    if not P.digits(pid):
        err(prog, "gsatlc is not running.")
        return EX_FAIL
    pid = int(pid)
    if host and host != paths.hostname():
        # Another host's controller: ask it to stop (woken via its sigfwd).
        try:
            ok = request.request(transport.process_address(pid, host), P.STOP, timeout=10.0) == P.STOPPING
        except (request.RequestError, OSError) as e:
            silent = getattr(e, "silent", None)
            err(prog, "gsatlc (PID %d on %s) did not answer: %s%s"
                % (pid, host, e, "" if silent is None else "; %s did not pass on the wake-up" % silent))
            return EX_FAIL
        return 0 if ok else EX_FAIL
    ref = pidref.read_pid_file(paths.gsatlc_pid_file(), pidref.CONTROLLER)
    if ref is None or ref.pid != pid:
        # Dead, or its PID now names another process: never signal that one.
        _forget(pid, host)
        err(prog, "gsatlc (pid %d) was not running; removed its stale files." % pid)
        return EX_FAIL
    pidref.terminate(ref)
    if not pidref.wait_gone(ref, 15):
        err(prog, "gsatlc (pid %d) did not stop within 15 s" % pid)
        return EX_FAIL
    _forget(pid, host)
    return 0


def _forget(pid, host):
    pidref.remove_pid_file(paths.gsatlc_pid_file(), pid)
    if read_first_line(paths.gsatlc_host_file(), "") == host:
        unlink_quiet(paths.gsatlc_host_file())
