"""What /proc says about a process, for the fault tests (no signal sent)."""

import os


def read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return ""


def stat_fields(pid):
    """Fields of /proc/PID/stat after the command name ([0] state, [1] ppid)."""
    return read("/proc/%d/stat" % pid).rsplit(")", 1)[-1].split()


def alive(pid):
    """Runs and is no zombie."""
    fields = stat_fields(pid)
    return bool(fields) and fields[0] != "Z"


def ppid(pid):
    fields = stat_fields(pid)
    return int(fields[1]) if len(fields) > 1 else None


def group_gone(pgid):
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


def pids():
    """Every process now in /proc."""
    return [int(n) for n in os.listdir("/proc") if n.isdigit()]


def cmdline(pid):
    """The command line, arguments joined by spaces ("" once it is gone)."""
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
    except OSError:
        return ""
