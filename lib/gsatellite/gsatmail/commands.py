"""The one-line commands a mail may carry, carried out through the client
library and rendered with :mod:`gsatellite.views`.

Each returns ``(output, exit value)`` as the command would print and exit;
options are parsed by the commands' own parsers, so a mail takes exactly
the options the command takes and gets the same usage message.  ``gqwait``
never waits in a mail: it answers at once with each job's state, and with
the exit value gqwait would give once every job has ended (124, as for a
wait that timed out, while one has not).  A failure that a later attempt
may not have (no controller, unreachable) raises :class:`TempFail`.
"""

import contextlib
import io
import shlex

from .. import client, views
from ..cli.common import EX_USAGE, Exit
from . import TempFail

USAGE = """gsatmail accepts a job script (its first line starts with #!) or one
command line:

  gqstat [-f [jobId]] [-s jobState] [-t jobType] [--json]
  gqhold jobId
  gqrls jobId
  gqdel jobId
  gqsig [-s SIGNAL] jobId
  gqwait [--any] jobId [jobId ...]   (answers at once; never waits)

Text after a line "-- " (a mail signature) is ignored.
"""
# Commands whose repetition changes nothing: after a crash they run again.
READ_ONLY = ("gqstat", "gqwait")
TIMED_OUT = 124


def parse(body):
    """``("job", script)``, ``("command", argv)`` or ``("usage", why)``."""
    if body.lstrip("\r\n").startswith("#!"):
        return "job", body.lstrip("\r\n")
    lines = []
    for line in body.splitlines():
        if line == "-- ":
            break
        if line.strip():
            lines.append(line.strip())
    if len(lines) != 1:
        return "usage", "expected one command line, found %d lines" % len(lines)
    try:
        argv = shlex.split(lines[0])
    except ValueError as e:
        return "usage", "cannot split the command line: %s" % e
    if not argv or argv[0] not in _COMMANDS:
        return "usage", "unknown command %r" % (argv[0] if argv else "")
    return "command", argv


def _temporary(e):
    if isinstance(e, (client.NotRunning, client.Unreachable)):
        return True
    return isinstance(e, client.NoAnswer) and e.withdrawn


def run(argv):
    """Carry out ``argv``; ``(output, exit value)``."""
    prog, args = argv[0], argv[1:]
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            code = _COMMANDS[prog](prog, args)
    except Exit as e:
        if e.message:
            out.write("%s: %s\n" % (prog, e.message))
        code = e.code
    except client.ClientError as e:
        if _temporary(e):
            raise TempFail(e.message)
        out.write(e.line(prog) + "\n")
        code = e.exit_code
    return out.getvalue(), code


def _gqstat(prog, args):
    from ..cli import gqstat

    opts = gqstat.parse(prog, args)
    jobs = client.status(opts["id"], opts["state"], opts["type"])
    if opts["json"]:
        text = views.json_text(jobs)
    elif opts["detailed"]:
        one = opts["id"] is not None and opts["state"] is None
        text = "".join(views.detailed(j) for j in jobs) if one else views.detailed_list(jobs)
    else:
        text = views.table(jobs)
    print(text, end="")
    return 0


def _one_id(prog, args):
    if len(args) != 1 or args[0].startswith("-"):
        print("Usage: %s jobId" % prog)
        raise Exit(EX_USAGE)
    return args[0]


def _job_action(operation):
    def action(prog, args):
        operation(_one_id(prog, args))
        return 0
    return action


def _gqsig(prog, args):
    sig = "SIGTERM"
    if len(args) == 3 and args[0] in ("-s", "--signal"):
        sig, args = args[1], args[2:]
    client.signal_job(_one_id(prog, args), sig)
    return 0


def _gqwait(prog, args):
    from ..cli import gqwait

    any_, _timeout, texts = gqwait.parse(prog, args)
    jobs = [client.find_job(t) for t in texts]
    results = {}
    for j in jobs:
        value = j.exit_value()
        if value is not None:
            results[j.id] = value
        print("%s %s%s" % (j.id, j.state, "" if value is None else " exit value %d" % value))
    done = client.verdict([j.id for j in jobs], results, any_)
    return TIMED_OUT if done is None else done


_COMMANDS = {
    "gqstat": _gqstat,
    "gqhold": _job_action(lambda text: client.hold(text)),
    "gqrls": _job_action(lambda text: client.release(text)),
    "gqdel": _job_action(lambda text: client.delete(text)),
    "gqsig": _gqsig,
    "gqwait": _gqwait,
}
