"""sigfwd: this host's signal forwarder (PROTOCOL.md §3).

Its inbox is also the host's well-known forwarder address
(``transport.sigfwd_address``).  Processes on other hosts cannot signal
ours, so they publish ``SIGNAME PID;BOX`` there and the forwarder runs kill and answers kill's exit code.  It also runs *delegated
actions* (``DELEGATE_ACTION FILE``) in the background and stops them again
(``UNDELEGATE_ACTION ID``).

Remote senders cannot wake it, so it looks into its box every
``sigfwd_poll`` seconds (0.5 by default, as classic); local gsatellite
senders also send SIGCONT so it reacts at once.  Where ``$HOME`` is on a
file system of this host alone, no other host can write the box and the
kernel tells it of every message (:mod:`.transport.boxwatch`): then it
looks only every ``WATCHED_POLL`` seconds, as a safety net, and an idle
forwarder wakes for its heartbeat alone.

It heals (issue 17): any client or controller of this host that needs a
forwarder starts one when none runs (:func:`ensure_running`), and a
``sigfwd.pid`` left from before a kill -9 or a reboot names nobody
(:mod:`pidref`: start time and boot id).  One forwarder serves a host: it
holds ``sigfwd.lock`` for its life, and one that finds the lock held while
a live forwarder is recorded leaves at once.  An NFS lock may outlive its
host, so a lock held with no live forwarder recorded is passed by after a
moment.  The new forwarder inherits what its dead predecessor's box still
holds, except the signals (wake-ups whose moment has passed, to PIDs that
may now name strangers).  It also beats this host's heartbeat
(:mod:`hosts`) on its ``liveness_interval`` timer and puts its alias back
if it vanished.

Anyone who can write into the box can name any PID, so a signal goes only
to a process that is ours by our own records (:func:`ours`); anything else
is refused (answer ``1``, as a failed kill) and logged.
"""

import errno
import fcntl
import os
import signal
import time

from . import config, hosts, paths, pidref, proc
from . import protocol as P
from .daemon import Daemon
from . import transport
from .fsutil import makedirs, open_append, read_first_line
from .transport import mbox, wake
from .log import log
from .protocol import digits


# Seconds between looks into a box the kernel watches for us.
WATCHED_POLL = 60.0
# While this host's controller runs (and beats the host's heartbeat on the
# same interval), the forwarder beats this many times less often.
SHARED_BEATS = 4


class SignalForwarder(Daemon):
    name = "sigfwd"
    watch = None  # the inotify descriptor on our box, see arm_watch

    def __init__(self, lock=None):
        super().__init__()
        self.lock = lock  # the descriptor holding sigfwd.lock
        self.poll = config.get_float("sigfwd_poll")
        self.actions = {}
        self.next_action = 0
        self.handlers[P.DELEGATE_ACTION] = self.delegate
        self.handlers[P.UNDELEGATE_ACTION] = self.undelegate
        self.handlers[P.WRITE_FIFO] = self.write_fifo
        self.alias = transport.become_sigfwd(self.inbox, inherit=worth_inheriting)
        makedirs(paths.run_dir())
        pidref.write_pid_file(paths.sigfwd_pid_file(), self.pid)
        self.arm_watch()
        hosts.beat()
        self.interval = config.get_float("liveness_interval")
        self.lost_after = config.get_float("host_lost_after")
        self.call_later(self.interval, self.beat)
        log("started; box %s" % self.box)

    def arm_watch(self):
        """Be woken by the kernel for each message in our box where it
        sees them all (a local file system); else poll, as classic."""
        from .transport import boxwatch

        self.disarm_watch()
        if self.inbox.directory is not None:
            self.sleeper.add(boxwatch.SIGNAL)  # before the first SIGIO can come
            self.watch = boxwatch.watch(self.inbox.directory)
        self.poll = config.get_float("sigfwd_poll") if self.watch is None else WATCHED_POLL

    def disarm_watch(self):
        """No SIGIO from now on, none left pending: unblocked (a test's
        forwarder, the process goes on), its default action ends the process."""
        if self.watch is None:
            return
        os.close(self.watch)
        self.watch = None
        while signal.sigtimedwait({signal.SIGIO}, 0) is not None:
            pass

    def inbox_lost(self, inbox):
        ours = inbox is self.inbox
        super().inbox_lost(inbox)
        if ours:
            self.arm_watch()  # the watch went with the old box

    def beat(self):
        """The heartbeat timer: this host lives, and its alias and PID file
        name us.  A controller of this host beats too (every
        ``liveness_interval``, or clients take it for gone): then this timer
        runs ``SHARED_BEATS`` times less often, so that an idle host does
        not wake two processes for one heartbeat."""
        from . import liveness

        # Only after a refresh of gsatlcPid within the last interval, and
        # where hosts are taken for lost late enough: a controller that dies
        # at once leaves the heartbeat some 5 intervals old at worst.
        info = liveness.controller(verify=False, max_age=self.interval)
        shared = info is not None and info[0] == self.host and self.lost_after >= 10 * self.interval
        self.call_later(self.interval * (SHARED_BEATS if shared else 1), self.beat)
        hosts.beat()
        if read_first_line(paths.sigfwd_pid_file(), "") != str(self.pid):
            # Overwritten (by hand, or by a starter that saw the file name
            # a stranger): without it every healer takes us for dead and
            # starts another forwarder.
            log("%s no longer names this forwarder; writing it again" % paths.sigfwd_pid_file())
            try:
                pidref.write_pid_file(paths.sigfwd_pid_file(), self.pid)
            except OSError as e:
                log("cannot write %s: %s" % (paths.sigfwd_pid_file(), e.strerror))
        if not transport.exists(self.alias) or transport.owner(self.alias) != (self.host, self.pid):
            log("the alias %s no longer names this forwarder; making it again" % self.alias)
            self.alias = transport.become_sigfwd(self.inbox)

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
        if not digits(target.lstrip("-")) or int(target) in (0, -1):
            log("refusing to signal %r" % target)
            return 1
        if not ours(abs(int(target)), signo=sig):
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
        import subprocess

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
        if signo == signal.SIGIO:
            if self.watch is not None:
                from .transport import boxwatch

                boxwatch.drain(self.watch)
            return  # the box is looked into next
        super().on_signal(signo)

    def shutdown(self):
        for action in self.actions.values():
            if action.poll() is None:
                try:
                    os.killpg(action.pid, signal.SIGTERM)
                except OSError:
                    pass
        self.disarm_watch()
        # Only remove the alias and PID file if they are still ours: a new
        # forwarder may already have replaced them.
        transport.resign_sigfwd(self.inbox)
        pidref.remove_pid_file(paths.sigfwd_pid_file(), self.pid)
        super().shutdown()
        log("stopped")


def waiting_client(pid, host):
    """A client of this host waiting for an answer from a controller on
    another host, which wakes it through here: it owns a box named after its
    PID made after it started (boot time counts in whole seconds, hence the
    second of slack).  Only SIGCONT is sent on this ground."""
    started = pidref.started_at(pid)
    return started is not None and mbox.has_box_since(pid, started - 1, host)


def ours(pid, host=None, signo=None):
    """Is ``pid`` a gsatellite process of ``host`` (this host) by our own
    records?  Only those are sent signals on a message's word: the
    controller in ``gsatlcPid`` when ``gsatlcHostName`` is this host, the
    sputnik in ``sputnik.pid`` of a running or held job whose
    ``job.execHost`` is this host, and this forwarder.  Each PID file is
    checked by :mod:`pidref` (its recorded start time, or for a classic
    file the process's age and program name), so a stale PID names nobody.
    The classic tools only forward SIGCONT to a controller or a sputnik;
    a job is signalled by its sputnik, never through here.  With ``signo``
    SIGCONT, also a client waiting for an answer (:func:`waiting_client`)."""
    from .jobstore import JobStore
    from . import states

    host = host or paths.hostname()
    if pid == os.getpid():
        return True
    text = str(pid)
    if signo == signal.SIGCONT and waiting_client(pid, host):
        return True

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


def worth_inheriting(text):
    """What a new forwarder takes over from a dead one's box: everything
    but signals (``SIGNAME PID``), whose moment has passed."""
    return not text.startswith("SIG")


def running():
    """This host's live forwarder (a ProcessRef) when its box is reachable
    through the alias, else None: a few system calls."""
    ref = forwarder()
    return ref if ref is not None and transport.exists(transport.sigfwd_address()) else None


def ensure_running(wait=True):
    """Start this host's signal forwarder unless one runs already; returns
    its PID.  ``wait=False``: start it and return None at once (a daemon's
    timer, a client that polls anyway), the next look finds it."""
    ref = running()
    if ref is not None:
        return ref.pid
    makedirs(paths.host_log_dir())
    with open(open_append(paths.sigfwd_log()), "ab") as out:
        p = proc.start_daemon("sigfwd", out)
    if not wait:
        return None
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        # Ours, or one started at the same moment by another process.
        ref = running()
        if ref is not None:
            return ref.pid
        if p.poll() not in (None, 0):
            break
        time.sleep(0.01)
    raise RuntimeError("signal forwarder did not start (see %s)" % paths.sigfwd_log())


def claim(patience=2.0):
    """Take ``sigfwd.lock`` for this forwarder's life: the open descriptor,
    or None when a live forwarder already serves this host."""
    makedirs(paths.run_dir())
    fd = os.open(paths.sigfwd_lock_file(), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    deadline = time.monotonic() + patience
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except OSError as e:
            if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                log("cannot lock %s: %s; going on without" % (paths.sigfwd_lock_file(), e))
                return fd
        ref = forwarder()
        if ref is not None:
            os.close(fd)
            log("forwarder %d serves this host already; exiting" % ref.pid)
            return None
        if time.monotonic() >= deadline:
            holder = _local_holder(fd)
            if holder is not None:
                # A live process of this host holds it: a forwarder whose
                # sigfwd.pid was overwritten (it writes it again on its next
                # beat).  Two would fight over the alias for ever.
                os.close(fd)
                log("%s is held by the live process %d; exiting" % (paths.sigfwd_lock_file(), holder))
                return None
            # Held, yet no live forwarder is recorded: a lock that outlived
            # its holder (NFS after a reboot), or a starter that died.
            log("%s is held but no forwarder lives; going on" % paths.sigfwd_lock_file())
            return fd
        time.sleep(0.05)


def _local_holder(fd):
    """The PID of a live process of this host (not us) that holds a lock on
    the file of ``fd`` (``/proc/locks``), or None.  A lock kept by an NFS
    server for a host that rebooted has no such process."""
    try:
        st = os.fstat(fd)
        where = "%02x:%02x:%d" % (os.major(st.st_dev), os.minor(st.st_dev), st.st_ino)
        with open("/proc/locks", "rb") as f:
            lines = f.read(1 << 20).decode("ascii", "replace").splitlines()
    except OSError:
        return None
    for line in lines:
        words = line.split()
        # "1: FLOCK  ADVISORY  WRITE PID MAJ:MIN:INODE START END"
        if len(words) >= 6 and words[1] == "FLOCK" and digits(words[4]) \
                and words[5] == where:
            pid = int(words[4])
            if pid != os.getpid() and pidref.start_time(pid) is not None:
                return pid
    return None


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
    lock = claim()
    if lock is None:
        return 0
    SignalForwarder(lock).run()
    return 0
