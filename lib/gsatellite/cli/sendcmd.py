"""sendcmd: send one command to a message box and print the answer."""

import sys

from .. import __version__
from .. import transport
from ..transport import request
from .common import info_option, EX_FAIL, EX_USAGE, err, program, run

USAGE = """Usage: sendcmd --command command --message-box messageBox [--no-sigfwd] [--no-wait-for-answer] [--timeout SEC]
Try `sendcmd --help' for more information.
"""

HELP = """sendcmd v%s

SYNOPSIS:
sendcmd [options]

DESCRIPTION:
Send one command to a message box and print the answer.

OPTIONS:
-c, --command command   The command, e.g. "ALIVE?", "PID?", "HOST?", "STOP".
-m, --message-box messageBox
                        The box to send it to.
[--no-sigfwd]           Do not wake the box's owner.
[--no-wait-for-answer]  Do not wait for an answer.
[--timeout SEC]         Give up waiting after SEC seconds (default:
                        the answer_timeout setting).
[--help]                Display this help and exit.
[-V, --version]         Display version information and exit.
"""


def main(argv=None):
    return run(program(), _main, sys.argv[1:] if argv is None else argv)


def _main(prog, argv):
    if not argv:
        sys.stdout.write(USAGE)
        return EX_FAIL
    opts = {}
    flags = set()
    i = 0
    while i < len(argv):
        a = argv[i]
        info_option(a, "sendcmd", HELP % __version__)
        if a in ("-c", "--command", "-m", "--message-box", "--timeout"):
            key = {"-c": "c", "--command": "c", "-m": "m", "--message-box": "m"}.get(a, a)
            if key in opts:
                err(prog, 'The option "%s" cannot be used multiple times!' % a)
                return EX_USAGE
            if i + 1 >= len(argv) or argv[i + 1] == "" or argv[i + 1].startswith("-"):
                err(prog, 'missing option parameter for option "%s"!' % a)
                return EX_USAGE
            opts[key] = argv[i + 1]
            i += 2
            continue
        if a in ("--no-sigfwd", "--no-wait-for-answer"):
            if a in flags:
                err(prog, 'The option "%s" cannot be used multiple times!' % a)
                return EX_USAGE
            flags.add(a)
            i += 1
            continue
        sys.stderr.write(USAGE)
        return EX_USAGE
    if "c" not in opts or "m" not in opts:
        sys.stderr.write(USAGE)
        return EX_USAGE
    box = opts["m"]
    command = opts["c"]
    if ";" in command or "\n" in command:
        err(prog, 'a command cannot contain ";" or a newline')
        return EX_USAGE
    if not transport.exists(box):
        err(prog, 'Message box "%s" not existing.' % box)
        return EX_FAIL
    timeout = None
    if "--timeout" in opts:
        try:
            timeout = float(opts["--timeout"])
        except ValueError:
            err(prog, "--timeout needs a number of seconds")
            return EX_USAGE
    wake_owner = "--no-sigfwd" not in flags
    if "--no-wait-for-answer" in flags:
        transport.send(box, command + ";")
        if wake_owner:
            transport.wake_owner(box)
        return 0
    answer = request.request(box, command, wake=wake_owner, timeout=timeout)
    sys.stdout.write(answer + "\n")
    return 0
