"""Process plumbing: detaching, closing inherited descriptors, exit values.

Every fork/exec of gsatellite goes through here, so the rules live in one
place: children close what they inherited (the controller's lock file must
never outlive the controller in a child), start with an empty signal mask
and default dispositions (Python ignores SIGPIPE and SIGXFSZ, and exec keeps
ignored signals ignored), and never return into the parent's code.
"""

import gc
import os
import sys

# The C module (same functions, plain numbers): the signal package would
# bring enum into the start-up of every client that asks proc.alive().
import _signal as signal

# Every signal a child of ours starts with at its default: all but the two
# nobody can catch or ignore.  exec keeps an ignored signal ignored (Python
# ignores SIGPIPE and SIGXFSZ, whoever started the controller may have
# ignored more: nohup, trap '').  (glibc's two internal signals, 32 and 33,
# are not valid here and stay as they are.)
DEFAULT_SIGNALS = frozenset(signal.valid_signals()) - {signal.SIGKILL, signal.SIGSTOP}


def close_fds(keep=(0, 1, 2)):
    try:
        fds = [int(n) for n in os.listdir("/proc/self/fd")]
    except OSError:
        fds = range(3, 1024)
    for fd in fds:
        if fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass


def reset_signals():
    """Every signal at its default and none blocked, in a child about to
    exec (a ``preexec_fn``): what it runs starts as a job does (the sputnik
    names every signal to ``posix_spawn``), whatever whoever started the
    daemons ignored (``nohup``, ``trap ''``), since exec keeps an ignored
    signal ignored."""
    for s in DEFAULT_SIGNALS:
        try:
            signal.signal(s, signal.SIG_DFL)
        except (OSError, ValueError, RuntimeError):
            pass
    signal.pthread_sigmask(signal.SIG_SETMASK, set())


def redirect(stdin_path, out_path, err_path=None, append=True):
    from .fsutil import open_append

    def open_out(path):
        if append:
            return open_append(path)  # never waits on a FIFO put there
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)

    fd_in = os.open(stdin_path, os.O_RDONLY)
    fd_out = open_out(out_path)
    fd_err = open_out(err_path) if err_path else fd_out
    os.dup2(fd_in, 0)
    os.dup2(fd_out, 1)
    os.dup2(fd_err, 2)
    for fd in {fd_in, fd_out, fd_err}:
        if fd > 2:
            os.close(fd)


def exit_value(status):
    """waitpid status -> shell-style exit value (128+N for signal N)."""
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    if os.WIFEXITED(status):
        return os.WEXITSTATUS(status)
    return 1


def waitid_value(info):
    """``os.waitid`` result -> shell-style exit value, as :func:`exit_value`."""
    if info.si_code in (os.CLD_KILLED, os.CLD_DUMPED):
        return 128 + info.si_status
    if info.si_code == os.CLD_EXITED:
        return info.si_status
    return 1


def peek_ended_child():
    """``(pid, exit value)`` of a child that has ended, left unreaped, or
    None.  Its status stays with the kernel (and with whoever inherits the
    zombie if we die) until :func:`reap_child`, so a caller records it
    first and a kill at any line loses nothing.  Until it is reaped, the
    same child is returned again."""
    try:
        info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return None
    return None if info is None else (info.si_pid, waitid_value(info))


def reap_child(pid):
    """Reap the ended child ``pid`` (seen by :func:`peek_ended_child`)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def start_daemon(program, out):
    """Start ``bin/PROGRAM`` with this interpreter in a session of its own,
    output to the open file ``out``, with a clean signal state."""
    import subprocess

    from . import paths

    return subprocess.Popen(
        [sys.executable, paths.bin_path(program)],
        stdin=subprocess.DEVNULL,
        stdout=out,
        stderr=out,
        start_new_session=True,
        preexec_fn=reset_signals,
    )


def spawn_session(fn, *args):
    """Run ``fn(*args)`` in a forked child that leads a new session.

    Returns the child's PID at once.  The caller reaps it (our daemons
    collect SIGCHLD); if the caller dies first, init adopts the child, which
    keeps running in its own session.
    """
    # Objects that exist now are never collected in the child: without this
    # the child's first garbage collection would touch (and so copy) the
    # whole heap it shares with us.
    gc.freeze()
    pid = os.fork()
    if pid == 0:
        try:
            os.setsid()
            code = fn(*args) or 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
        except BaseException:
            import traceback

            traceback.print_exc()
            code = 70
        finally:
            sys.stdout.flush()
        os._exit(code)
    gc.unfreeze()
    return pid


def become_subreaper():
    """Adopt orphaned descendants (Linux PR_SET_CHILD_SUBREAPER), so that
    services and job children that outlive their parents are reaped by us
    even where PID 1 does not reap (some containers)."""
    try:
        _libc().prctl(36, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass


_LIBC = []


def _libc():
    """The C library, loaded once: the controller loads it at start and
    every sputnik forked from it finds it loaded (a CDLL costs a dlopen)."""
    if not _LIBC:
        import ctypes

        _LIBC.append(ctypes.CDLL(None, use_errno=True))
    return _LIBC[0]


# What this process last wrote to /proc/self/comm and where its argv
# strings lie, each with the PID it holds for (a fork child re-reads): a
# sputnik names itself twice per job, and neither changes for the process.
_named = [None, None]
_argv_span = [None, None]


def set_name(name, *args):
    """Name this process as the classic tools' process was named.

    ``name`` becomes the process name (``comm``), which ``pgrep NAME``,
    ``ps -e`` and ``top`` show; a Python daemon is otherwise called
    ``python3``.  With ``args``, the command line (``/proc/PID/cmdline``,
    what ``pgrep -f`` and ``ps -f`` show) becomes ``NAME ARGS...``: a
    process forked without exec (a sputnik) would show its parent's command
    line otherwise, and ``pkill -f gsatlc`` would hit it too.
    """
    from .pidref import own_pid

    pid = own_pid()
    comm = name[:15].encode("utf-8", "replace")
    if _named != [pid, comm]:
        try:
            fd = os.open("/proc/self/comm", os.O_WRONLY | os.O_CLOEXEC)
            try:
                os.write(fd, comm)
            finally:
                os.close(fd)
            _named[:] = [pid, comm]
        except OSError:
            pass
    if args:
        _set_cmdline(" ".join((name,) + tuple(str(a) for a in args)), pid)


def _argv_memory(pid):
    """``(start, end)`` of the original argv strings, or None."""
    if _argv_span[0] != pid:
        from .pidref import stat_fields

        try:
            fields = stat_fields(pid)
            # Fields 48 and 49 of proc(5): arg_start and arg_end.
            _argv_span[:] = [pid, (int(fields[45]), int(fields[46]))]
        except (TypeError, IndexError, ValueError):
            return None
    return _argv_span[1]


def _set_cmdline(title, pid):
    """Overwrite the memory of the original argv strings with ``title``.

    The kernel shows that memory as the command line.  Python keeps its own
    copy of argv, so nothing reads the old strings any more.  The title is
    cut to the space the original argv had (the environment after it is
    left alone) and the rest is filled with NUL bytes: a last byte that is
    not NUL would make the kernel read on into the environment.
    """
    span = _argv_memory(pid)
    if span is None:
        return
    start, end = span
    size = end - start
    if size <= 1:
        return
    data = title.encode("utf-8", "replace")[:size - 1].replace(b"\0", b" ")
    data = data.ljust(size, b"\0")
    try:
        import ctypes

        ctypes.memmove(start, data, size)
    except (OSError, AttributeError, ValueError):
        pass


def alive(pid):
    """True while ``pid`` runs.  A zombie counts as dead: where PID 1 does not
    reap (some containers), a dead orphan stays a zombie forever."""
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except (TypeError, ValueError, OverflowError, OSError):
        return False
    try:
        with open("/proc/%d/stat" % int(pid), "rb") as f:
            return f.read().rsplit(b")", 1)[-1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True
