"""sigfwdd {--start|--stop}: this host's signal forwarder."""

import os
import sys

from .. import sigfwd
from .common import EX_FAIL, err, program


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1 or argv[0] not in ("--start", "--stop"):
        sys.stdout.write("usage: sigfwdd {--start|--stop}\n")
        return EX_FAIL
    os.umask(0o077)
    if argv[0] == "--start":
        try:
            sigfwd.ensure_running()
        except (RuntimeError, OSError) as e:
            err(program(), str(e))
            return EX_FAIL
        return 0
    return 0 if sigfwd.stop() else EX_FAIL
