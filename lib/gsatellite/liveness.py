"""Is the controller running?  The classic liveness rule (PROTOCOL.md §1).

The controller runs when ``gsatlcPid`` and ``gsatlcHostName`` both exist and
the ctime of ``gsatlcPid`` is at most 5 seconds old; the controller refreshes
it every ``liveness_interval`` seconds while it lives.
"""

import os
import time

from . import paths
from .fsutil import read_first_line

MAX_AGE = 5


def controller():
    """``(host, pid)`` of the live controller, or None."""
    try:
        st = os.stat(paths.gsatlc_pid_file())
    except OSError:
        return None
    if time.time() - st.st_ctime > MAX_AGE:
        return None
    host = read_first_line(paths.gsatlc_host_file(), "")
    pid = read_first_line(paths.gsatlc_pid_file(), "")
    if not host or not pid or not pid.strip().isdigit():
        return None
    return host.strip(), int(pid)


def controller_box():
    info = controller()
    if info is None:
        return None
    host, pid = info
    return paths.pid_box(pid, host)


NOT_RUNNING = "gsatlc is not running. Start it with `gsatlcd --start'."
