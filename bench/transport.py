"""Figure 10: file message boxes versus System V queues (``transport``), side
by side in one run (FEATURES.md §9).

For each transport a controller is started in a fresh ``$HOME`` with
``GSAT_TRANSPORT=file`` or ``sysv``, and measured:

* **controller-side round trip** of ``ALIVE?`` (the issue's figure,
  message in to answer out): from the moment the request is in the
  controller's inbox (the client's send has returned) to the moment the
  answer is in the client's (the client is woken, before it receives);
  timed by a warm client (``bench/transport_rt.py``, one process, one
  answer inbox reused), median of 2,000.
* **round trip** of the same requests as the client sees it: its send and
  receive too.  A further row makes a fresh answer inbox per request, as
  every command does.
* ``sendcmd -c 'ALIVE?' -m ADDRESS`` (the controller's box, or its queue).
* ``gqsub JOB`` with a ``sleep 3600`` job occupying the slot.
* the drain of 100 ``true`` jobs submitted in one ``gqsub`` call.

Runs of the two transports alternate, so drift hits both alike.  The
queues of sputniks killed at clean-up are removed by their registry.
"""

import os
import sys

import tools
from common import ROOT, fmt_s, kill_pids, median

RT_SCRIPT = os.path.join(ROOT, "bench", "transport_rt.py")
FLOOR_SCRIPT = os.path.join(ROOT, "bench", "transport_floor.py")
KINDS = (("file", "file boxes"), ("sysv", "System V queues"))


def _remove_queues(g):
    sys.path.insert(0, os.path.join(ROOT, "lib"))
    try:
        import sysv_ipc
        from gsatellite.transport import sysvkeys
    except ImportError:
        return
    for key in sysvkeys.registered_keys(os.path.join(g, "var", "run")):
        try:
            sysv_ipc.MessageQueue(key).remove()
        except (sysv_ipc.Error, OSError):
            pass


class _Tool(tools.Gsat):
    def __init__(self, interp, kind):
        super().__init__(interp, "direct", env={"GSAT_TRANSPORT": kind})
        self.kind = kind

    def address(self):
        """The controller's address in this transport: its queue or its box."""
        if self.kind == "sysv":
            host = open(os.path.join(self.g, "gsatlcHostName")).read().strip()
            pid = self.controller_pid()
            with open(os.path.join(self.g, "var", "run", host, "sysv", str(pid))) as f:
                n = int(f.read().split()[0])
            return "sysv:%s:%d:%d" % (host, pid, n)
        return self.controller_box()

    def close(self):
        if self.box is None:
            return
        try:
            self.stop_daemon()
        finally:
            # Every process first (a sputnik outlives its controller and
            # would make a new queue for the one taken away), then the
            # queues they leave, then the sandbox.
            for _ in range(3):
                pids = self.box.pids()
                if not pids:
                    break
                kill_pids(pids)
            _remove_queues(self.g)
            super().close()


def _floors(ctx, tool, n):
    """Medians of three runs of bench/transport_floor.py, or None without sysv_ipc."""
    woken, blocking = [], []
    for _ in range(3):
        r = tool.box.run([ctx.interp, FLOOR_SCRIPT, str(n)], timeout=300)
        if r.rc != 0:
            return None
        figures = [float(x) for x in r.out.split()]
        woken.append(figures[0])
        blocking.append(figures[1])
    return median(woken), median(blocking)


def fig_transport(ctx):
    rep = ctx.report
    reps = ctx.n("latency")
    drains = ctx.n("drain")
    rt_count = 300 if ctx.quick else 2000
    res = {kind: {"inside": [], "rt": [], "rt_fresh": [], "sendcmd": [], "submit": [], "drain": []}
           for kind, _ in KINDS}
    opened = {}
    try:
        for kind, _ in KINDS:
            opened[kind] = _Tool(ctx.interp, kind).open()
        # The drains first: thousands of file-box round trips just before
        # would slow their file creation on this disk (common.discard).
        for _ in range(drains):
            for kind, _ in KINDS:
                res[kind]["drain"].append(opened[kind].drain(tools.TRUE, 100, one_call=True))
        for kind, _ in KINDS:
            t = opened[kind]
            env = {"PYTHONPATH": os.path.join(ROOT, "lib")}
            for fresh in ("", "--fresh"):
                argv = [ctx.interp, RT_SCRIPT, t.address(), str(rt_count // (10 if fresh else 1))]
                r = t.box.run(argv + ([fresh] if fresh else []), timeout=300, env=env)
                if r.rc != 0:
                    raise RuntimeError("transport_rt.py failed: %s" % r.err.strip())
                figures = [float(x) for x in r.out.split()]
                res[kind]["rt_fresh" if fresh else "rt"].append(figures[0])
                if not fresh:
                    res[kind]["inside"].append(figures[1])
        floor = _floors(ctx, opened["sysv"], rt_count)
        for _ in range(reps):
            for kind, _ in KINDS:
                t = opened[kind]
                r = t.box.check(t.cmd("sendcmd", "-c", "ALIVE?", "-m", t.address()))
                if r.out.strip() != "YES":
                    raise RuntimeError("sendcmd ALIVE? answered %r" % r.out)
                res[kind]["sendcmd"].append(r.seconds)
        for kind, _ in KINDS:
            t = opened[kind]
            t.box.check(t.submit_argv(tools.LONG))
        for i in range(reps):
            for kind, _ in KINDS:
                t = opened[kind]
                res[kind]["submit"].append(t.box.check(t.submit_argv(tools.TRUE, 1000 + i)).seconds)
    finally:
        for t in opened.values():
            t.close()
    med = {kind: {k: median(v) for k, v in d.items()} for kind, d in res.items()}
    f, s = med["file"], med["sysv"]
    rows = [
        ("inside", "controller-side round trip of `ALIVE?`, message in to answer out (median of %d)"
         % rt_count, "ratio >= 5x"),
        ("rt", "the same round trip as the warm client sees it, its send and receive included, one answer "
         "inbox", ""),
        ("rt_fresh", "the client's round trip with a fresh answer inbox per request (median of %d)"
         % (rt_count // 10), ""),
        ("sendcmd", "`<real> bin/sendcmd -c 'ALIVE?' -m ADDRESS` (box / queue)", ""),
        ("submit", "`<real> bin/gqsub JOB`, slot busy", ""),
        ("drain", "drain 100 `true` jobs, one `<real> bin/gqsub` call", "sysv < 0.5 s"),
    ]
    def fmt(seconds):
        # The round trips are tenths of a millisecond: more digits than fmt_s.
        return "%.3f ms" % (seconds * 1000) if seconds is not None and seconds < 0.01 else fmt_s(seconds)

    for key, what, target in rows:
        rep.row(10, "%s: file %s / sysv %s" % (what, fmt(f[key]), fmt(s[key])), fmt(s[key]),
                "%.1fx faster over queues" % (f[key] / s[key]) if s[key] else "", target)
    if floor is None:
        rep.note("figure 10: the kernel's floor was not measured (bench/transport_floor.py needs sysv_ipc)")
    else:
        woken, blocking = floor
        rep.row(10, "the kernel's floor under the first row: two bare processes, woken by SIGCONT as the "
                "daemons sleep, the same interval (bench/transport_floor.py): file %s / floor %s"
                % (fmt(f["inside"]), fmt(woken)), fmt(woken),
                "%.1fx: the most a queue controller could reach here" % (f["inside"] / woken), "")
        rep.row(10, "the kernel's own round trip, blocking msgsnd/msgrcv, no signal", fmt(blocking), "", "")
    rep.note("figure 10: both transports measured in one run, alternating; the round trips are timed by a "
             "client process that stays up (bench/transport_rt.py), so no interpreter start-up is in them; "
             "the controller-side one runs from the return of the client's send to its wake-up by the "
             "answer, before it receives")
    rep.command("figure 10: `GSAT_TRANSPORT=file` and `GSAT_TRANSPORT=sysv` controllers side by side; "
                "bench/transport_rt.py ADDRESS N [--fresh]; sendcmd/gqsub %d times each, drain %d times"
                % (reps, drains))
