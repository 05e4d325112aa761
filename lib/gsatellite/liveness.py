"""Is the controller running?  The classic liveness rule (PROTOCOL.md §1).

The controller runs when ``gsatlcPid`` and ``gsatlcHostName`` both exist and
the ctime of ``gsatlcPid`` is at most 5 seconds old; the controller refreshes
it every ``liveness_interval`` seconds while it lives.  On the controller's
own host the PID must also still name the process the file was written for
(:func:`pidref.read_pid_file`): after a ``kill -9`` the files look alive for
up to 5 seconds, and their PID may already belong to a stranger.  The host it names
becomes part of the controller's address, so a host that is not a valid
host name makes :func:`controller_box` raise ``transport.BadAddress``.
"""

import os
import time

from . import paths, pidref, transport
from .fsutil import read_first_line
from .protocol import digits

MAX_AGE = 5


def controller(verify=True, max_age=MAX_AGE):
    """``(host, pid)`` of the live controller, or None.  ``verify=False``
    skips the check of the PID's process (the caller makes its own);
    ``max_age``: seconds since its last refresh of ``gsatlcPid``."""
    try:
        st = os.stat(paths.gsatlc_pid_file())
    except OSError:
        return None
    if time.time() - st.st_ctime > max_age:
        return None
    host = read_first_line(paths.gsatlc_host_file(), "")
    pid = read_first_line(paths.gsatlc_pid_file(), "")
    pid = pid.strip()
    # ASCII digits naming one process; PID 0 would name a process group.
    if not host or not digits(pid) or int(pid) == 0:
        return None
    host = host.strip()
    # A gsatlcPid without its start-time sidecar (a classic controller's)
    # must name a controller's program: a stranger with a reused PID gets
    # no request and no SIGCONT.
    if (verify and host == paths.hostname()
            and pidref.read_pid_file(paths.gsatlc_pid_file(), pidref.CONTROLLER) is None):
        return None
    return host, int(pid)


class Parent:
    """The live controller as one of its children (a sputnik) asks again
    and again, two look-ups per job: :func:`controller` also reads the
    sidecar and ``/proc`` to tell the PID is not a stranger's.  Once the
    controller found is also our parent, that check is not needed while
    it stays our parent (a child outlives its parent only as the orphan of
    another): the files, young and still naming it, answer."""

    def __init__(self):
        self.kept = None  # (host, pid) of the controller that is our parent

    def controller(self):
        """``(host, pid)`` as :func:`controller`, or None."""
        kept, self.kept = self.kept, None
        if kept is not None and os.getppid() == kept[1]:
            try:
                young = time.time() - os.stat(paths.gsatlc_pid_file()).st_ctime <= MAX_AGE
            except OSError:
                young = False
            # Read, not only looked at: a takeover may write the files in
            # place (a classic tool) or get the freed inode back.
            if (young and (read_first_line(paths.gsatlc_pid_file(), "") or "").strip() == str(kept[1])
                    and (read_first_line(paths.gsatlc_host_file(), "") or "").strip() == kept[0]):
                self.kept = kept
                return kept
        info = controller(max_age=MAX_AGE)
        if info is not None and info[0] == paths.hostname() and info[1] == os.getppid():
            self.kept = info
        return info


def controller_box():
    """The live controller's address, or None."""
    info = controller()
    if info is None:
        return None
    host, pid = info
    return transport.process_address(pid, host)


