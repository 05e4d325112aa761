"""sigfwd: this host's signal forwarder (PROTOCOL.md §3).

Its inbox is also the host's well-known forwarder address
(``transport.sigfwd_address``).  Processes on other hosts cannot signal
ours, so they publish ``SIGNAME PID;BOX`` there and the forwarder runs kill and answers kill's exit code.  It also runs *delegated
actions* (``DELEGATE_ACTION FILE``) in the background and stops them again
(``UNDELEGATE_ACTION ID``).

Remote senders cannot wake it, so it looks into its box every
``sigfwd_poll`` seconds (0.5 by default, as classic); local gsatellite
senders also send SIGCONT so it reacts at once.

Anyone who can write into the box can name any PID, so a signal goes only
to a process that is ours by our own records (:func:`ours`); anything else
is refused (answer ``1``, as a failed kill) and logged.
"""

import os
import signal
import subprocess
import time

from . import config, paths, pidref, proc
from . import protocol as P
from .daemon import Daemon
from . import transport
from .fsutil import makedirs, read_first_line
from .transport import wake
from .log import log


class SignalForwarder(Daemon):
    name = "sigfwd"

    def __init__(self):
        super().__init__()
        self.poll = config.get_float("sigfwd_poll")
        self.actions = {}
        self.next_action = 0
        self.handlers[P.DELEGATE_ACTION] = self.delegate
        self.handlers[P.UNDELEGATE_ACTION] = self.undelegate
        self.handlers[P.WRITE_FIFO] = self.write_fifo
        transport.become_sigfwd(self.inbox)
        makedirs(paths.run_dir())
        pidref.write_pid_file(paths.sigfwd_pid_file(), self.pid)
        log("started; box %s" % self.box)

    def fallback(self, verb, args, answer_box):
        if verb.startswith("SIG"):
            return str(self.forward(verb, args))
        return P.UNKNOWN

    def forward(self, name, args):
        target = args.strip()
        try:
            sig = wake.signal_number(name)
        except ValueError:
            log("unknown signal %r" % name)
            return 1
        if not target.lstrip("-").isdigit() or int(target) in (0, -1):
            log("refusing to signal %r" % target)
            return 1
        if not ours(abs(int(target))):
            log("refusing %s %s: not a gsatellite process of this host" % (name, target))
            return 1
        try:
            os.kill(int(target), sig)
            return 0
        except OSError:
            return 1

    def delegate(self, args, box):
        action = args.strip()
        if not action or not os.path.isfile(action):
            log("DELEGATE_ACTION: no such file %r" % action)
            return "DELEGATE FAILED"
        try:
            os.chmod(action, os.stat(action).st_mode | 0o100)
            child = subprocess.Popen(
                [action],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=proc.reset_signals,
            )
        except OSError as e:
            log("DELEGATE_ACTION %s failed: %s" % (action, e))
            return "DELEGATE FAILED"
        action_id = self.next_action
        self.next_action += 1
        self.actions[action_id] = child
        log("action %d: %s (pid %d)" % (action_id, action, child.pid))
        return str(action_id)

    def undelegate(self, args, box):
        try:
            child = self.actions.pop(int(args.strip()))
        except (ValueError, KeyError):
            return P.OK
        if child.poll() is None:
            try:
                os.killpg(child.pid, signal.SIGTERM)
            except OSError:
                pass
            child.wait()
        return P.OK

    def write_fifo(self, args, box):
        """``WRITE_FIFO PATH TEXT``: a controller on another host tells a
        local gqwait that its job ended (FIFOs do not cross NFS)."""
        from . import waiters

        fifo, text = P.parse_write_fifo(args)
        if not waiters.valid_fifo_path(fifo) or not text:
            return P.WRITE_FIFO_FAILED
        return P.WRITE_FIFO_OK if waiters.write_fifo(fifo, text) else P.WRITE_FIFO_FAILED

    def on_signal(self, signo):
        if signo == signal.SIGCHLD:
            for action in self.actions.values():
                action.poll()
            return
        super().on_signal(signo)

    def shutdown(self):
        for action in self.actions.values():
            if action.poll() is None:
                try:
                    os.killpg(action.pid, signal.SIGTERM)
                except OSError:
                    pass
        # Only remove the alias and PID file if they are still ours: a new
        # forwarder may already have replaced them.
        transport.resign_sigfwd(self.inbox)
        pidref.remove_pid_file(paths.sigfwd_pid_file(), self.pid)
        super().shutdown()
        log("stopped")


def ours(pid, host=None):
    """Is ``pid`` a gsatellite process of ``host`` (this host) by our own
    records?  Only those are sent signals on a message's word: the
    controller in ``gsatlcPid`` when ``gsatlcHostName`` is this host, the
    sputnik in ``sputnik.pid`` of a running or held job whose
    ``job.execHost`` is this host, and this forwarder.  Each PID file is
    checked by :mod:`pidref` (its recorded start time, or for a classic
    file the process's age and program name), so a stale PID names nobody.
    The classic tools only forward SIGCONT to a controller or a sputnik;
    a job is signalled by its sputnik, never through here."""
    from .jobstore import JobStore
    from . import states

    host = host or paths.hostname()
    if pid == os.getpid():
        return True
    text = str(pid)

    def recorded(path, names):
        if read_first_line(path, "") != text:
            return False
        ref = pidref.read_pid_file(path, names)
        return ref is not None and ref.pid == pid

    if read_first_line(paths.gsatlc_host_file(), "") == host and \
            recorded(paths.gsatlc_pid_file(), pidref.CONTROLLER):
        return True
    store = JobStore()
    for state in (states.RUNNING, states.HELD):
        for job_id in store.ids(state):
            if recorded(paths.job_file(job_id, "sputnik.pid"), pidref.SPUTNIK) and \
                    (store.read(job_id, "job.execHost", "") or "").strip() == host:
                return True
    return False


def ensure_running():
    """Start this host's signal forwarder unless one answers already."""
    ref = forwarder()
    if ref is not None and transport.exists(transport.sigfwd_address()):
        return ref.pid
    makedirs(paths.host_log_dir())
    with open(paths.sigfwd_log(), "ab") as out:
        p = proc.start_daemon("sigfwd", out)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if transport.exists(transport.sigfwd_address()) and read_first_line(paths.sigfwd_pid_file(), "") == str(p.pid):
            return p.pid
        if p.poll() is not None:
            break
        time.sleep(0.01)
    raise RuntimeError("signal forwarder did not start (see %s)" % paths.sigfwd_log())


def forwarder():
    """This host's running forwarder (a :class:`pidref.ProcessRef`), or None;
    a ``sigfwd.pid`` whose PID now names another process gives None."""
    return pidref.read_pid_file(paths.sigfwd_pid_file(), pidref.FORWARDER)


def stop():
    """Ask this host's forwarder to exit; True if one was signalled."""
    ref = forwarder()
    return ref is not None and pidref.terminate(ref)


def main():
    os.umask(0o077)
    SignalForwarder().run()
    return 0
