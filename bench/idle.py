"""Idle cost of a tool's daemons (figure 6, side-by-side row d).

CPU: for the daemons and all their live descendants, utime+stime+cutime+
cstime from /proc/PID/stat (clock ticks; cutime/cstime hold the children
they reaped), summed at the start and at the end of the window; the
difference over the window length is the share of one core.  Because ticks
are coarse (10 ms), the daemons' own run time is also summed from
/proc/PID/task/*/schedstat (nanoseconds) as a cross-check.

Spawned processes: the kernel's process-events connector (netlink,
root only) reports every fork; each new process (not thread) whose parent
is a daemon or an already counted descendant is counted, however briefly
it lives.  Without the connector, /proc is listed every 5 ms instead and
the count is a lower bound (processes living less than that are missed).
"""

import errno
import os
import select
import socket
import struct
import time

from common import alive, all_pids, log, proc_stat

TICK = os.sysconf("SC_CLK_TCK")


class ForkEvents:
    """Fork events from the process-events connector, or None if unavailable."""

    NETLINK_CONNECTOR, CN_IDX_PROC, CN_VAL_PROC = 11, 1, 1
    PROC_CN_MCAST_LISTEN, PROC_CN_MCAST_IGNORE, PROC_EVENT_FORK = 1, 2, 1

    def __init__(self):
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, self.NETLINK_CONNECTOR)
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
            self.sock.bind((0, self.CN_IDX_PROC))
            self._control(self.PROC_CN_MCAST_LISTEN)
        except OSError:
            self.sock.close()
            raise
        self.sock.setblocking(False)
        self.lost = 0

    @classmethod
    def open(cls):
        try:
            return cls()
        except (OSError, AttributeError):
            return None

    def _control(self, op):
        body = struct.pack("=I", op)
        cn = struct.pack("=IIIIHH", self.CN_IDX_PROC, self.CN_VAL_PROC, 0, 0, len(body), 0) + body
        self.sock.send(struct.pack("=IHHII", 16 + len(cn), 3, 0, 0, 0) + cn)

    def read(self):
        """(parent process, child process) for each new process since the last call."""
        out = []
        while True:
            try:
                data = self.sock.recv(65536)
            except BlockingIOError:
                return out
            except OSError as e:
                if e.errno == errno.ENOBUFS:  # the kernel dropped events
                    self.lost += 1
                    continue
                raise
            off = 0
            while off + 16 <= len(data):
                length = struct.unpack_from("=I", data, off)[0]
                if length < 16:
                    break
                # nlmsghdr (16) + cn_msg (20) + proc_event header (16)
                if length >= 68 and struct.unpack_from("=I", data, off + 36)[0] == self.PROC_EVENT_FORK:
                    _, ptgid, cpid, ctgid = struct.unpack_from("=IIII", data, off + 52)
                    if cpid == ctgid:  # a process, not a thread
                        out.append((ptgid, cpid))
                off += (length + 3) & ~3

    def wait(self, timeout):
        select.select([self.sock], [], [], timeout)

    def close(self):
        try:
            self._control(self.PROC_CN_MCAST_IGNORE)
        except OSError:
            pass
        self.sock.close()


def _parents():
    parents = {}
    for pid in all_pids():
        fields = proc_stat(pid)
        if fields:
            parents[pid] = int(fields[1])
    return parents


def tree(roots):
    parents = _parents()
    members = {p for p in roots if p in parents}
    grew = True
    while grew:
        grew = False
        for pid, ppid in parents.items():
            if ppid in members and pid not in members:
                members.add(pid)
                grew = True
    return members


def _ticks(pids):
    total = 0
    for pid in pids:
        fields = proc_stat(pid)
        if fields:
            total += sum(int(fields[i]) for i in (11, 12, 13, 14))
    return total


def _schedstat_ns(pids):
    total = 0
    for pid in pids:
        task_dir = "/proc/%d/task" % pid
        try:
            tasks = os.listdir(task_dir)
        except OSError:
            continue
        for tid in tasks:
            try:
                with open("%s/%s/schedstat" % (task_dir, tid)) as f:
                    total += int(f.read().split()[0])
            except (OSError, ValueError, IndexError):
                pass
    return total


def measure(roots, seconds):
    """Idle figures of the daemon processes ``roots`` over ``seconds``."""
    members = tree(roots)
    events = ForkEvents.open()
    ticks0, ns0 = _ticks(members), _schedstat_ns(roots)
    known = set(members)
    spawned = 0
    seen = set(all_pids())
    t0 = time.monotonic()
    end = t0 + seconds
    try:
        while time.monotonic() < end:
            if events is not None:
                events.wait(max(0.0, min(0.2, end - time.monotonic())))
                new = events.read()
            else:
                time.sleep(0.005)
                new = []
                for pid in all_pids():
                    if pid not in seen:
                        seen.add(pid)
                        fields = proc_stat(pid)
                        if fields:
                            new.append((int(fields[1]), pid))
            for parent, child in new:
                if parent in known:
                    known.add(child)
                    spawned += 1
        elapsed = time.monotonic() - t0
        ticks1, ns1 = _ticks(tree(roots)), _schedstat_ns(roots)
    finally:
        lost = events.lost if events is not None else 0
        if events is not None:
            events.close()
    return {
        "cpu_pct": 100.0 * (ticks1 - ticks0) / TICK / elapsed,
        "own_pct": 100.0 * (ns1 - ns0) / 1e9 / elapsed,
        "spawned": spawned,
        "exact": events is not None and not lost,
        "seconds": elapsed,
    }


def fig_idle(ctx):
    rep = ctx.report
    window = ctx.n("idle")
    keys = ctx.peers(("gsat", "classic", "tsp"))
    exact = True
    for key in keys:
        with ctx.tool(key) as t:
            time.sleep(5 if key == "classic" else 2)  # let start-up work finish
            daemons = t.daemon_pids()
            if not daemons:
                raise RuntimeError("%s: no daemon process found" % key)
            # Helpers a daemon left behind (the classic liveness loop is
            # reparented to init) are part of its idle cost too.
            roots = sorted(set(daemons) | set(t.box.pids()))
            log("idle: %s, %d daemon processes, %.0f s" % (key, len(roots), window))
            m = measure(roots, window)
            gone = [p for p in daemons if not alive(p)]
            if gone:
                rep.note("%s idle: daemon(s) %s exited during the window" % (t.title, gone))
        exact = exact and m["exact"]
        spawned = "%d%s" % (m["spawned"], "" if m["exact"] else "+")
        rep.cell("d", key, "%.3f %% / %s spawned" % (m["cpu_pct"], spawned))
        if key == "gsat":
            if len(roots) != len(daemons):
                rep.note("gsatellite idle: %d process(es) besides gsatlc and sigfwd were running"
                         % (len(roots) - len(daemons)))
            rep.row(6, "idle CPU of gsatlc + sigfwd (and children) over %.0f s, %% of one core" % window,
                    "%.3f %%" % m["cpu_pct"], "own run time %.3f %% (schedstat)" % m["own_pct"],
                    "< 0.05 % over 60 s")
            rep.row(6, "processes spawned by them in %.0f s" % window, spawned)
        else:
            rep.note("%s idle: %d daemon process(es) and %d other process(es) of its temporary $HOME; "
                     "their own run time %.3f %% of a core (schedstat)"
                     % (t.title, len(daemons), len(roots) - len(daemons), m["own_pct"]))
    if ctx.want("nq") and ctx.available("nq"):
        rep.cell("d", "nq", "no daemon: 0 % / 0")
    if keys:
        rep.note("idle: CPU from /proc/PID/stat utime+stime+cutime+cstime of the daemons, every other "
                 "process of the tool's temporary $HOME, and their live descendants (1 clock tick = %.3f %% of a core over %.0f s); spawned processes %s"
                 % (100.0 / TICK / window, window,
                    "counted exactly with the kernel's process-events connector" if exact else
                    "counted by listing /proc every 5 ms (a lower bound, marked +)"))
        rep.command("idle: daemons started in a fresh temporary $HOME, left alone 2 s (classic: 5 s), then "
                    "observed for %.0f s (see bench/idle.py)" % window)
