"""Timestamped log lines for the daemons (stdout is redirected to a log file)."""

import os
import sys
import time

from .pidref import own_pid

_NAME = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "gsatellite"


def set_name(name):
    global _NAME
    _NAME = name


def log(message, stream=None):
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    line = "%s %s[%d]: %s\n" % (stamp, _NAME, own_pid(), message)
    out = stream or sys.stdout
    try:
        out.write(line)
        out.flush()
    except (OSError, ValueError):
        pass

