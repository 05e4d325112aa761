"""Command-line front ends: thin ``main(argv=None) -> int`` functions."""

import sys

# The C module (same functions): the signal package would bring enum into
# the start-up of every command (issue 18).
import _signal as signal


def _interrupt(signo, frame):
    # As a Ctrl-C now would: the launcher's handler raises only while the
    # command may still be interrupted.
    handler = signal.getsignal(signal.SIGINT)
    if callable(handler):
        handler(signal.SIGINT, frame)


def _interrupt_again(unraisable, _default=sys.unraisablehook):
    """A Ctrl-C that lands in a callback the interpreter runs by itself (a
    weak-reference callback of the import machinery, while a module loads)
    cannot interrupt the command there: Python would print "Exception
    ignored" with a traceback and go on.  Deliver it again a moment later,
    once this hook has returned (a signal sent from here would interrupt
    the hook itself), so it interrupts the command as any Ctrl-C does."""
    if unraisable.exc_type is not None and issubclass(unraisable.exc_type, KeyboardInterrupt):
        signal.signal(signal.SIGALRM, _interrupt)
        signal.setitimer(signal.ITIMER_REAL, 0.005)
        return
    _default(unraisable)


sys.unraisablehook = _interrupt_again


def leave(code):
    """End the command with exit status ``code`` at once: flush what it
    wrote, then exit without the interpreter's shut-down.  Tearing down
    every loaded module took a command 8-10 ms here, as long as all its
    work, and a waiting ``gqwait`` returned that much later (issue 18).
    Nothing of ours needs the shut-down: no atexit handlers, no threads
    that must finish, files closed where they are written, answer boxes
    removed by ``finally`` blocks before ``main`` returns.  Output that can
    no longer be written fails the command with status 1: quietly when its
    reader went away (``gqstat | head -1``), as during the command, else
    with one line on stderr (a full disk)."""
    import os

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BrokenPipeError:
            code = code or 1
        except (OSError, ValueError) as e:
            code = code or 1
            if stream is sys.stdout:
                _say("%s: cannot write its output: %s\n" % (
                    sys.argv[0].rpartition("/")[2], getattr(e, "strerror", None) or e))
    # As SystemExit: None is success, anything but a number a failure.
    os._exit(0 if code is None else code if isinstance(code, int) else 1)


def _say(line):
    try:
        sys.stderr.write(line)
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
