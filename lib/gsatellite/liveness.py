"""Is the controller running?  The classic liveness rule (PROTOCOL.md §1).

The controller runs when ``gsatlcPid`` and ``gsatlcHostName`` both exist and
the ctime of ``gsatlcPid`` is at most 5 seconds old; the controller refreshes
it every ``liveness_interval`` seconds while it lives.  The host it names
becomes part of the controller's address, so a host that is not a valid
host name makes :func:`controller_box` raise ``transport.BadAddress``.
"""

import os
import time

from . import paths, proc, transport
from .fsutil import read_first_line

MAX_AGE = 5


def controller():
    """``(host, pid)`` of the live controller, or None."""
    info = recorded()
    if info is not None and info[0] == paths.hostname() and not proc.alive(info[1]):
        return None
    return info


def recorded():
    """``(host, pid)`` that a young ``gsatlcPid`` names (the 5 s rule alone),
    or None."""
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
    """The live controller's address, or None."""
    info = controller()
    if info is None:
        return None
    host, pid = info
    return transport.process_address(pid, host)


