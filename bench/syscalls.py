#!/usr/bin/env python3
"""System calls and file creations per job during a drain (issue 18).

    python3 bench/syscalls.py [--jobs 50] [--transport sysv] [--tmpdir DIR] [--bin DIR] [--keep DIR]

Starts a controller in a fresh ``$HOME`` (as the other figures do), drains
a few jobs to warm it, then attaches ``strace -ff`` to the controller and
drains ``--jobs`` ``true`` jobs submitted in one ``gqsub`` call.  Every
process the controller forks is followed: the spare sputniks, and the
jobs they start.  Printed per job: the system calls of the controller, of
the sputniks (a job's own process counts as sputnik until its ``execve``)
and of the jobs; then the directory entries made (``open`` with
``O_CREAT``, ``rename``, ``link``, ``symlink``, ``mkdir`` that succeeded,
and ``msgget`` with ``IPC_CREAT``), of them the new inodes (all but renames,
links and queues), and with ``--names`` which ones.
``gqsub`` itself is not traced.  ``--bin`` times another checkout's
commands (A/B: the tree before a change).  Needs ``strace``.
"""

import argparse
import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402
import tools  # noqa: E402
import transport as transport_fig  # noqa: E402

RENAMING = ("rename", "renameat", "renameat2", "link", "linkat")
CREATING = RENAMING + ("symlink", "symlinkat", "mkdir", "mkdirat")
_CALL = re.compile(r"(\w+)\((.*)")


def _open_controller(interp, kind, bin_dir=None):
    g = transport_fig._Tool(interp, kind)
    if bin_dir:
        g.bin = bin_dir
    return g.open()


def _created(name, rest, line):
    if re.search(r"= -1 ", line):
        return None
    if name in ("open", "openat") and "O_CREAT" in rest:
        found = re.findall(r'"([^"]*)"', rest)
        return found[0] if found else "?"
    if name in CREATING:
        found = re.findall(r'"([^"]*)"', rest)
        return found[-1] if found else "?"
    if name == "msgget" and "IPC_CREAT" in rest:
        return "(System V queue)"
    return None


def _pattern(path):
    path = re.sub(r".*/home/\.gsatellite/", "G/", path)
    path = re.sub(r"[0-9]{3,}", "N", path)
    # Temporary names are hidden and end in random characters.
    return re.sub(r"(/\.[^/]*)\.[A-Za-z0-9_]{6,8}$", r"\1.TMP", path)


def analyse(trace_dir, controller_pid):
    """``(calls, created, names)``: Counters by role (controller, sputnik, job)."""
    calls, created, names = collections.Counter(), collections.Counter(), collections.Counter()
    made = collections.Counter()  # of ``created``: new inodes (not renames, links, queues)
    for entry in os.listdir(trace_dir):
        pid = int(entry.rsplit(".", 1)[1])
        role = "controller" if pid == controller_pid else "sputnik"
        with open(os.path.join(trace_dir, entry), errors="replace") as f:
            for line in f:
                m = _CALL.match(line)
                if m is None:
                    continue
                name, rest = m.groups()
                calls[role] += 1
                if name == "execve" and role == "sputnik" and line.rstrip().endswith("= 0"):
                    role = "job"
                path = _created(name, rest, line)
                if path is not None and not path.startswith("/proc/"):
                    created[role] += 1
                    if name not in RENAMING and name != "msgget":
                        made[role] += 1
                    names[role, "%s %s" % (name, _pattern(path))] += 1
    calls.made = made
    return calls, created, names


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--jobs", type=int, default=50)
    p.add_argument("--transport", default="sysv", choices=("file", "sysv"))
    p.add_argument("--tmpdir", default=None, help="where the temporary homes go (default: as bench/run.py)")
    p.add_argument("--bin", default=None, help="the bin/ of another checkout to measure")
    p.add_argument("--names", action="store_true", help="list what is created, per job")
    p.add_argument("--keep", default=None, help="keep the traces in this directory")
    args = p.parse_args(argv)
    if not shutil.which("strace"):
        sys.exit("syscalls.py: strace is not installed")
    common.BASE[0] = args.tmpdir or os.path.expanduser("~/.cache/gsat-bench")
    os.makedirs(common.BASE[0], exist_ok=True)
    trace_dir = args.keep or tempfile.mkdtemp(prefix="gsat-strace-")
    os.makedirs(trace_dir, exist_ok=True)
    common.install_signal_handlers()
    g = _open_controller(sys.executable, args.transport, args.bin and os.path.abspath(args.bin))
    try:
        g.drain(tools.TRUE, 5, one_call=True)
        pid = g.controller_pid()
        st = subprocess.Popen(["strace", "-ff", "-qq", "-o", os.path.join(trace_dir, "t"), "-p", str(pid)])
        # strace says nothing when it has attached; the first traced line does.
        common.wait_until(lambda: os.listdir(trace_dir), 10, 0.01)
        time.sleep(0.2)
        seconds = g.drain(tools.TRUE, args.jobs, one_call=True)
        st.terminate()
        st.wait(30)
    finally:
        g.close()
    calls, created, names = analyse(trace_dir, pid)
    n = args.jobs
    print("%d `true` jobs, one gqsub call, GSAT_TRANSPORT=%s, %s (drain under strace: %.2f s)"
          % (n, args.transport, common.BASE[0], seconds))
    roles = ("controller", "sputnik", "job")
    print("system calls per job: " + ", ".join("%s %.0f" % (r, calls[r] / n) for r in roles)
          + ", all %.0f" % (sum(calls.values()) / n))
    print("directory entries made per job: " + ", ".join("%s %.1f" % (r, created[r] / n) for r in roles)
          + ", all %.1f" % (sum(created.values()) / n))
    # A rename or a link makes no inode; on ext4 each new one (and each one
    # a rename over a file frees) costs far more than the entry (benchmarks.md).
    made = calls.made
    print("  of them new files, directories and symlinks (new inodes): " + ", ".join(
        "%s %.1f" % (r, made[r] / n) for r in roles) + ", all %.1f" % (sum(made.values()) / n))
    if args.names:
        for (role, what), count in sorted(names.items()):
            if count >= n / 2:
                print("  %-10s %5.2f %s" % (role, count / n, what))
    if not args.keep:
        shutil.rmtree(trace_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
