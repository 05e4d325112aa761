"""What every command shares: program name, usage output, and the mapping
of failures (a :class:`~gsatellite.client.ClientError`, :class:`Exit`, or an
OSError of the file system) to one line on stderr and an exit code.

A file system that cannot take a write (full, read-only, over quota) is
exit 79, "G cannot be written" (PROTOCOL.md §11); any other OSError is 1.
"""

import os
import sys

EX_FAIL = 1
EX_USAGE = 64
EX_UNAVAILABLE = 69
EX_SOFTWARE = 70
EX_CANTWRITE = 79


class Exit(Exception):
    def __init__(self, code, message=None):
        super().__init__(message)
        self.code = code
        self.message = message


def program(argv0=None):
    return os.path.basename(argv0 or sys.argv[0] or "gsatellite")


def err(prog, message):
    sys.stderr.write("%s: %s\n" % (prog, message))


def info_option(arg, prog, help_text):
    """Handle ``--help`` and ``-V``/``--version``: print and raise Exit(0)."""
    if arg == "--help":
        sys.stdout.write(help_text)
        raise Exit(0)
    if arg in ("-V", "--version"):
        from .. import __version__

        sys.stdout.write("%s v%s\n" % (prog, __version__))
        raise Exit(0)


def run(prog, fn, argv):
    """Call ``fn(prog, argv)`` and map exceptions to exit codes."""
    from .. import config
    from ..client.errors import ClientError

    try:
        return fn(prog, argv) or 0
    except Exit as e:
        if e.message:
            err(prog, e.message)
        return e.code
    except ClientError as e:
        sys.stderr.write(e.line(prog) + "\n")
        return e.exit_code
    except config.ConfigError as e:
        err(prog, "configuration: %s" % e)
        return EX_SOFTWARE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EX_FAIL
    except Exception as e:
        # Transport errors are OSErrors too: they are told apart first.
        code = _transport_failure(prog, e)
        if code is not None:
            return code
        if not isinstance(e, OSError):
            raise
        message, code = os_error(e)
        err(prog, message)
        return code


def _transport_failure(prog, e):
    """Exit code for a failure to talk to gsatlc, or None.  The transport is
    imported only here, when something failed: commands that never talk to
    the controller (gqstat) do not pay for it at start-up."""
    from .. import transport
    from ..transport import request

    if isinstance(e, request.TooLarge):
        err(prog, "refused: %s" % e)
        return EX_USAGE
    silent = getattr(e, "silent", None)
    silent = "" if silent is None else "; %s did not pass on the wake-up" % silent
    if isinstance(e, request.AnswerTimeout):
        err(prog, "%s%s" % (e, silent or "; is it stuck?"))
        return EX_UNAVAILABLE
    if isinstance(e, (request.RequestError, transport.TransportError)):
        err(prog, "cannot reach %s%s" % (e, silent))
        return EX_UNAVAILABLE
    return None


def os_error(e):
    """``(one line, exit code)`` for an OSError that ended a command."""
    from ..fsutil import NO_ROOM

    what = e.strerror or str(e)
    where = e.filename if isinstance(e.filename, str) else None
    if e.errno in NO_ROOM:
        return ("cannot write %s: %s" % (where, what) if where else "cannot write: %s" % what), EX_CANTWRITE
    return ("%s: %s" % (where, what) if where else what), EX_FAIL
