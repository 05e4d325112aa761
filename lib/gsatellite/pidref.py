"""Which process a PID names: the one rule before any signal (issue 11).

PIDs are reused and PID files outlive their processes (``kill -9``, a
crash).  A :class:`ProcessRef` is a PID together with the process's start
time (field 22 of ``/proc/PID/stat``, clock ticks since boot), which no two
processes with the same PID share; it signals only while the process at
that PID still has that start time.

PID files (``gsatlcPid``, ``sigfwd.pid``, ``sputnik.pid``, ``job.pid``) keep
their classic one-line format, because classic tools read them whole with
``cat`` and pass the result to ``kill``.  The start time goes into a
sidecar ``FILE.start`` (``PID TICKS``), written before the PID file.  A
reader trusts the sidecar only when it names the same PID; otherwise (a
classic writer, or a sidecar lost in a crash) it falls back to what can be
said without one: the process must have started no later than the PID file
was last written (a writer writes the PID of a process that exists), and,
when the caller names programs, its ``comm`` or one of its argument's base
names must be one of them.

A process group is signalled only when its leader is the recorded process
or gone: Linux does not hand out a PID while a group of that id still has
members, so a group whose leader died cannot have been reused.

Start times count from boot, so the sidecar also names the boot: a third
word, the kernel's boot id (``/proc/sys/kernel/random/boot_id``).  A record
of another boot names a process that is gone, whatever now runs at that PID
and whenever it started (issue 17: a host that rebooted and handed out the
same PIDs).  A sidecar of two words (written before) is read as before.
"""

import errno
import os
import time

# The C module: ``signal`` would bring ``enum`` into every client's start-up.
import _signal
from _signal import SIGCONT, SIGTERM

from .protocol import digits

SIDECAR = ".start"
# Seconds a start time may lie after a file's mtime and still count as
# earlier: /proc's boot time is whole seconds and file systems round too.
SLACK = 1.5
# Checked through this module's names, so tests can narrow them.
PROC = "/proc"


def stat_fields(pid):
    """The fields of /proc/PID/stat after the command name, or None."""
    # One read: the line is far shorter than a page, and a file object
    # would cost four more system calls (fstat, ioctl, lseek) each time.
    try:
        fd = os.open("%s/%d/stat" % (PROC, int(pid)), os.O_RDONLY | os.O_CLOEXEC)
    except (OSError, ValueError, TypeError):
        return None
    try:
        data = os.read(fd, 4096)
    except OSError:
        return None
    finally:
        os.close(fd)
    fields = data.rsplit(b")", 1)[-1].split()
    return fields if len(fields) > 19 else None


def start_time(pid):
    """Start time of a live (not zombie) process in clock ticks, or None."""
    fields = stat_fields(pid)
    if fields is None or fields[0] in (b"Z", b"X"):
        return None
    return int(fields[19])


_pid = [os.getpid()]


def _forked():
    _pid[0] = os.getpid()


os.register_at_fork(after_in_child=_forked)


def own_pid():
    """This process's PID.  Kept: every log line and every message asks,
    and os.getpid() is a system call each time; a forked child (a spare
    sputnik) learns its own at the fork."""
    return _pid[0]


_own = [None, None]


def own_start_time():
    """This process's start time in clock ticks, read once per process (a
    sputnik records it in the ``sputnik.pid`` sidecar of every job)."""
    pid = own_pid()
    if _own[0] != pid or _own[1] is None:
        _own[:] = [pid, start_time(pid)]
    return _own[1]


def _boot_time():
    try:
        with open(PROC + "/stat", "rb") as f:
            for line in f:
                if line.startswith(b"btime "):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


_boot_id = None


def boot_id():
    """This boot's id (hosts that share a kernel share it), or "" unknown."""
    global _boot_id
    if _boot_id is None:
        try:
            with open(PROC + "/sys/kernel/random/boot_id", "rb") as f:
                _boot_id = f.read(100).strip().decode("ascii", "replace")
        except OSError:
            _boot_id = ""
    return _boot_id


def started_at(pid):
    """Wall-clock start of a live process (epoch seconds), or None."""
    ticks = start_time(pid)
    if ticks is None:
        return None
    if _BOOTTIME is not None:
        # The start is counted on the clock since boot: now minus the age.
        # Exact, and no read of /proc/stat (~12 us, on every answer's wake-up).
        return time.time() - (time.clock_gettime(_BOOTTIME) - ticks / _CLK_TCK)
    boot = _boot_time()
    if boot is None:
        return None
    return boot + ticks / _CLK_TCK


_BOOTTIME = getattr(time, "CLOCK_BOOTTIME", None)
_CLK_TCK = os.sysconf("SC_CLK_TCK")


def _names(pid):
    found = set()
    try:
        with open("%s/%d/comm" % (PROC, pid), "rb") as f:
            found.add(f.read().strip().decode("utf-8", "replace"))
        with open("%s/%d/cmdline" % (PROC, pid), "rb") as f:
            for arg in f.read().split(b"\0")[:3]:
                found.add(os.path.basename(arg.decode("utf-8", "replace")))
    except OSError:
        pass
    return found


class ProcessRef:
    """One process: a PID and its start time (None: not known)."""

    __slots__ = ("pid", "start")

    def __init__(self, pid, start=None):
        self.pid = int(pid)
        self.start = start

    def __repr__(self):
        return "ProcessRef(%d, %r)" % (self.pid, self.start)

    @classmethod
    def of(cls, pid):
        """The process now at ``pid``, or None when there is none."""
        start = start_time(pid)
        return None if start is None or int(pid) <= 0 else cls(pid, start)

    def ended_status(self):
        """The wait status of this very process once it has ended but nobody
        has reaped it (a zombie, e.g. a job whose supervisor and controller
        were both killed, left to an init that does not reap), else None.
        Linux keeps it in /proc/PID/stat field 52 (since 3.5)."""
        fields = stat_fields(self.pid)
        if fields is None or fields[0] != b"Z" or len(fields) < 50:
            return None
        if self.start is not None and int(fields[19]) != self.start:
            return None
        try:
            return int(fields[49])
        except ValueError:
            return None

    def alive(self):
        """True while this very process runs (a zombie has ended)."""
        now = start_time(self.pid)
        return now is not None and (self.start is None or now == self.start)

    def signal(self, sig):
        """Send ``sig`` to this process; False when it is gone."""
        if self.pid <= 0 or not self.alive():
            return False
        try:
            os.kill(self.pid, sig)
            return True
        except OSError:
            return False

    def group_alive(self):
        """True while the process group this process leads has members."""
        if self.pid <= 1 or self.leader_replaced():
            return False
        try:
            os.killpg(self.pid, 0)
            return True
        except PermissionError:
            return True
        except OSError:
            return False

    def leader_replaced(self):
        """True when another process now holds this PID."""
        fields = stat_fields(self.pid)
        # An unreaped zombie still holds its PID, so its start time counts.
        return fields is not None and self.start is not None and int(fields[19]) != self.start

    def signal_group(self, sig):
        """Send ``sig`` to the process group led by this process."""
        if self.pid <= 1 or self.leader_replaced():
            return False
        try:
            os.killpg(self.pid, sig)
            return True
        except OSError:
            return False


# Programs that may hold each PID file when no start time was recorded.
CONTROLLER = ("gsatlc", "gsatlc.bash")
FORWARDER = ("sigfwd", "sigfwd.bash")
SPUTNIK = ("sputnik", "sputnik.bash")


# -- PID files ------------------------------------------------------------------------

def write_pid_file(path, pid=None, start=None):
    """Write ``path`` (the PID, one line) and its sidecar (PID and start
    time), the sidecar first: a reader that sees the new PID finds its start
    time already there."""
    from .fsutil import write_atomic

    pid = os.getpid() if pid is None else int(pid)
    if start is None:
        start = start_time(pid)
    if start is not None:
        boot = boot_id()
        write_atomic(path + SIDECAR, "%d %d%s\n" % (pid, start, " " + boot if boot else ""))
    write_atomic(path, "%d\n" % pid)


def remove_pid_file(path, pid):
    """Remove ``path`` and its sidecar if they still name ``pid``."""
    from .fsutil import unlink_quiet

    for name in (path, path + SIDECAR):
        if _first_word(name) == str(pid):
            unlink_quiet(name)


def _first_word(path):
    words = _head(path).split()
    return words[0].decode("ascii", "replace") if words else ""


def _head(path):
    """The first bytes of the PID file (or sidecar) ``path``; ``b""`` when
    it cannot be read.  Never blocks: a FIFO in a PID file's place reads as
    nothing (fsutil.read_bytes opens O_NONBLOCK, regular files only)."""
    from .fsutil import read_bytes

    return read_bytes(path, b"", 200)


# What _recorded_start gives for a record of an earlier boot: no process
# has this start time, so the recorded process counts as gone.
OTHER_BOOT = -1


def _recorded_start(path, text):
    """The start time recorded beside PID file ``path`` for PID ``text``
    (:data:`OTHER_BOOT` when recorded in another boot), or None."""
    words = _head(path + SIDECAR).split()
    try:
        if len(words) in (2, 3) and words[0].decode() == text and digits(words[1]):
            if len(words) == 3 and boot_id() and words[2].decode() != boot_id():
                return OTHER_BOOT
            return int(words[1])
    except (OSError, UnicodeDecodeError):
        pass
    return None


def _find(match):
    """The first live process of ours for which ``match(pid, stat fields,
    first three arguments)`` holds, as a ProcessRef, or None."""
    uid = os.getuid()
    try:
        names = os.listdir(PROC)
    except OSError:
        return None
    for name in names:
        if not digits(name):
            continue
        pid = int(name)
        fields = stat_fields(pid)
        if fields is None or fields[0] in (b"Z", b"X"):  # a zombie has ended
            continue
        try:
            if os.stat("%s/%d" % (PROC, pid)).st_uid != uid:
                continue
            with open("%s/%d/cmdline" % (PROC, pid), "rb") as f:
                args = f.read().split(b"\0")[:3]
        except OSError:
            continue
        if match(pid, fields, args):
            return ProcessRef(pid, int(fields[19]))
    return None


def find_session_leader(argument):
    """A process of ours that leads its own session and has ``argument``
    (an absolute path) among its first arguments: a job just started, whose
    PID its supervisor did not live to record.  Returns a ProcessRef or None."""
    want = os.fsencode(argument)
    # fields[3] is the session id (field 6 of /proc/PID/stat).
    return _find(lambda pid, fields, args: int(fields[3]) == pid and want in args)


def find_named(title, home=None):
    """A process of ours whose command line reads ``title`` (as
    :func:`proc.set_name` writes it), or None.  A job that its sputnik
    began to start but that has not run its program yet still shares the
    sputnik's memory, so its command line is the sputnik's.  ``home``: the
    process's ``$HOME`` must be that too (another installation of the user,
    under another ``$HOME``, has its own job of that id)."""
    want = os.fsencode(title)
    if home is None:
        return _find(lambda pid, fields, args: args[0] == want)
    real = os.path.realpath(home)
    return _find(lambda pid, fields, args: args[0] == want and home_of(pid) == real)


def home_of(pid):
    """The real path of ``$HOME`` in the environment ``pid`` started with
    (any spelling: a trailing slash, a symbolic link), or None."""
    try:
        with open("%s/%d/environ" % (PROC, pid), "rb") as f:
            entries = f.read().split(b"\0")
    except OSError:
        return None
    for entry in entries:
        if entry.startswith(b"HOME="):
            return os.path.realpath(os.fsdecode(entry[5:]))
    return None


def ended_status(path):
    """The wait status of the process PID file ``path`` was written for, when
    it has ended and nobody reaped it; else None.  Only with a recorded start
    time: without one a zombie cannot be told from a stranger's."""
    text = _first_word(path)
    if not digits(text) or int(text) <= 1:
        return None
    recorded = _recorded_start(path, text)
    return None if recorded is None else ProcessRef(int(text), recorded).ended_status()


def read_pid_file(path, names=(), group=False):
    """The process ``path`` was written for, if it still runs; else None.

    ``names``: programs it may be (``comm`` or an argument's base name),
    checked when no start time was recorded for this PID.  ``group``: the
    file names a process group leader (``job.pid``); the result is returned
    while the group has members even when its leader has ended.
    """
    text = _first_word(path)
    if not digits(text) or int(text) <= 1:
        return None
    pid = int(text)
    recorded = _recorded_start(path, text)
    if recorded == OTHER_BOOT:
        return None  # before a reboot: whatever has this PID now is a stranger
    if recorded is not None:
        ref = ProcessRef(pid, recorded)
        return ref if ref.alive() or (group and ref.group_alive()) else None
    now = start_time(pid)
    if now is None:
        if group and not stat_fields(pid):
            ref = ProcessRef(pid)
            return ref if ref.group_alive() else None
        return None
    try:
        written = os.stat(path).st_mtime
    except OSError:
        return None
    began = started_at(pid)
    if began is None or began > written + SLACK:
        return None  # started after the file was written: not its process
    if names and not (_names(pid) & set(names)):
        return None
    return ProcessRef(pid, now)


class Recorded(int):
    """The start time (clock ticks since boot) recorded for an inbox's owner
    (a System V queue's registry entry), passed where a box's ctime goes:
    exact, and no clock step moves it.  0: recorded without /proc; -1: no
    owner is recorded for that inbox."""

    __slots__ = ()


def may_wake(pid, changed):
    """May ``pid``, the owner named by an inbox's name, be woken?
    ``changed``: the box's ctime before we published in it (None: unknown),
    or the owner's :class:`Recorded` start.  The owner made its box after it
    started, so a process that started later than the box last changed is a
    stranger that got the PID of a dead owner."""
    if changed is None:
        return True
    if isinstance(changed, Recorded):
        if changed == 0:
            return True
        return changed > 0 and start_time(pid) == changed
    began = started_at(pid)
    return began is not None and began <= changed + SLACK


# Owners that passed may_wake, held by a pidfd: (pid, changed, its type) ->
# pidfd, or None after the first look.  A queue inbox keeps its ``changed``
# (its owner's Recorded start) for its life, so a daemon that wakes the
# owner again (a sputnik, the forwarder, a warm client) signals through the
# pidfd, with no read of /proc; and a pidfd never reaches a stranger: once
# its process is gone, sending fails.  A box's ctime moves with every
# message, so its key never comes twice.
_held = {}
_held_by = [None]
HELD_MAX = 32


def signal_owner(pid, changed, sig=SIGCONT):
    """Send ``sig`` to ``pid`` if :func:`may_wake` allows; True if delivered.
    ``pid`` must be positive."""
    if changed is None:
        return _kill(pid, sig)
    if _held_by[0] != own_pid():
        _held.clear()  # a forked child: its parent's pidfds are not its own
        _held_by[0] = own_pid()
    at = (pid, changed, type(changed))
    fd = _held.get(at)
    if fd is not None:
        try:
            _signal.pidfd_send_signal(fd, sig)
            return True
        except OSError as e:
            # ESRCH: that owner is gone; whoever has its PID now is looked
            # at below like anyone else.  EBADF, EINVAL: the number is not
            # our pidfd any more, and not ours to close.
            _let_go(at, close=e.errno not in (errno.EBADF, errno.EINVAL))
    elif at in _held:
        fd = _pidfd(pid)
        if fd is not None:
            # Opened first, checked after: the pidfd is the process checked.
            if not may_wake(pid, changed):
                os.close(fd)
                return False
            # The number was someone else's only if their pidfd was closed
            # behind our back: that entry would now signal this process.
            for key in [k for k, v in _held.items() if v == fd]:
                _let_go(key, close=False)
            _held[at] = fd
            try:
                _signal.pidfd_send_signal(fd, sig)
                return True
            except OSError:
                _let_go(at)  # just opened: ours to close
                return False
    if not may_wake(pid, changed):
        return False
    if at not in _held:
        if len(_held) >= HELD_MAX:
            for key in list(_held):
                _let_go(key)
        _held[at] = None
    return _kill(pid, sig)


def _pidfd(pid):
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):  # Python < 3.9, kernel < 5.3, gone
        return None


def _let_go(at, close=True):
    fd = _held.pop(at, None)
    if fd is not None and close:
        try:
            os.close(fd)
        except OSError:
            pass


def _kill(pid, sig):
    try:
        os.kill(pid, sig)
        return True
    except OSError:
        return False


def wait_gone(ref, timeout, interval=0.02):
    """Wait up to ``timeout`` seconds for ``ref`` to end; True if it did."""
    deadline = time.monotonic() + timeout
    while ref.alive():
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
    return True


def terminate(ref):
    """SIGTERM then SIGCONT (a stopped daemon must run to exit)."""
    return ref.signal(SIGTERM) and (ref.signal(SIGCONT) or True)
