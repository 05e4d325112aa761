"""gsatellite-only figures: interpreter baseline (1), sendcmd round trip (2),
and the paired command-versus-interpreter timing that figures 2 and 3 share.

"Like with like": a command started through its ``#!/usr/bin/env python3``
launcher pays for whatever ``python3`` on PATH is (here possibly a pyenv
shim), so it is compared with ``python3 -c pass`` started the same way; the
command started as ``<real interpreter> bin/CMD`` is compared with
``<real interpreter> -c pass``.  Each repetition times the four in a row and
a ratio is taken within that repetition; the figure is the median.
"""

import os
import subprocess
import tempfile

import common
import figures
from common import ROOT, Sandbox, fmt_ratio, fmt_s, log, median


def interp_runs(ctx, box):
    return (box.run(["python3", "-c", "pass"]).seconds, box.run([ctx.interp, "-c", "pass"]).seconds)


def paired(ctx, gsat, make_argv, reps, check=None):
    """{variant: (median seconds, median ratio)} for launcher and direct."""
    times = {"launcher": [], "direct": []}
    ratios = {"launcher": [], "direct": []}
    for i in range(reps):
        shim, real = interp_runs(ctx, gsat.box)
        for variant, base in (("launcher", shim), ("direct", real)):
            r = gsat.box.run(make_argv(variant, i))
            if r.rc != 0:
                raise RuntimeError("%s exited %s: %s" % (make_argv(variant, i), r.rc, r.err.strip()))
            if check:
                check(r)
            times[variant].append(r.seconds)
            ratios[variant].append(r.seconds / base)
    return {v: (median(times[v]), median(ratios[v])) for v in times}


def describe_interp(ctx):
    return "`python3` on PATH (%s)" % ("pyenv shim" if ctx.shim_is_wrapper else "no wrapper")


def fig_baseline(ctx):
    rep = ctx.report
    reps = ctx.n("latency")
    with Sandbox("baseline") as box:
        shim, real = [], []
        for _ in range(reps):
            a, b = interp_runs(ctx, box)
            shim.append(a)
            real.append(b)
    rep.row(1, "%s: `python3 -c pass`" % describe_interp(ctx), fmt_s(median(shim)))
    rep.row(1, "real interpreter: `%s -c pass`" % ctx.interp, fmt_s(median(real)))
    ctx.baseline = (median(shim), median(real))
    rep.command("`python3 -c pass` (PATH as the launchers see it) and `%s -c pass`, alternating, %d times"
                % (ctx.interp, reps))


def fig_sendcmd(ctx):
    rep = ctx.report
    reps = ctx.n("latency")
    with ctx.tool("gsat") as g:
        box = g.controller_box()

        def argv(variant, i):
            return g.cmd("sendcmd", "-c", "ALIVE?", "-m", box, variant=variant)

        def answered(r):
            if r.out.strip() != "YES":
                raise RuntimeError("sendcmd ALIVE? answered %r" % r.out)

        res = paired(ctx, g, argv, reps, answered)
    lt, lr = res["launcher"]
    dt, dr = res["direct"]
    rep.row(2, "`sendcmd -c 'ALIVE?' -m BOX` via launcher", fmt_s(lt), fmt_ratio(lr) + " of `python3 -c pass`")
    rep.row(2, "`<real> bin/sendcmd -c 'ALIVE?' -m BOX`", fmt_s(dt), fmt_ratio(dr) + " of `<real> -c pass`")
    rep.command("`sendcmd -c 'ALIVE?' -m ~/.gsatellite/mboxes/HOST/PID.inbox` and `%s bin/sendcmd ...`, "
                "%d pairs" % (ctx.interp, reps))


def fig_submit_gsat(ctx):
    """Figure 3 and the gsatellite cell of (a)."""
    from tools import LONG, TRUE

    rep = ctx.report
    reps = ctx.n("latency")
    with ctx.tool("gsat") as g:
        busy = g.submit(LONG)[0]
        ctx.wait(lambda: g.state(busy) == "running", "long job to run")
        ids = []

        def argv(variant, i):
            return g.submit_argv(TRUE, i, variant=variant)

        res = paired(ctx, g, argv, reps, lambda r: ids.append(r.out.strip()))
        queued = sum(1 for i in ids if g.state(i) == "queued")
    lt, lr = res["launcher"]
    dt, dr = res["direct"]
    rep.row(3, "`gqsub JOB` via launcher, slot busy", fmt_s(lt), fmt_ratio(lr) + " of `python3 -c pass`",
            "ratio <= 1.5")
    rep.row(3, "`<real> bin/gqsub JOB`, slot busy", fmt_s(dt), fmt_ratio(dr) + " of `<real> -c pass`",
            "ratio <= 1.5")
    rep.cell("a", "gsat", "%s (%s of interp. start-up)" % (fmt_s(dt), fmt_ratio(dr)))
    if queued != len(ids):
        rep.note("figure 3: only %d of %d submissions were still queued afterwards" % (queued, len(ids)))
    rep.command("`gqsub JOB` and `%s bin/gqsub JOB` while `exec sleep 3600` runs, %d pairs"
                % (ctx.interp, reps))


def install_venv(where, interp):
    """``bin/`` of a fresh virtual environment made in ``where`` with this
    checkout pip-installed; RuntimeError when it cannot be made."""
    venv = os.path.join(where, "venv")
    log("installing this checkout into a fresh virtual environment (%s)" % venv)
    for argv in ([interp, "-m", "venv", venv],
                 [os.path.join(venv, "bin", "python"), "-m", "pip", "install", "--quiet", ROOT]):
        p = subprocess.run(argv, capture_output=True, text=True, timeout=600)
        if p.returncode != 0:
            raise RuntimeError("%s failed: %s" % (" ".join(argv[:4]), (p.stderr or p.stdout).strip()[-500:]))
    return os.path.join(venv, "bin")


def fig_submit_installed(ctx):
    """Figure 3b: gqsub as pip installs it into a fresh virtual environment
    (under the bench's temporary directory, removed afterwards), its own
    gsatlcd warm, against that environment's interpreter."""
    where = tempfile.mkdtemp(prefix="gsat-bench-venv-", dir=common.BASE[0])
    try:
        _submit_installed(ctx, where)
    finally:
        common.close_all()  # the venv's controller, before its files go
        common.discard(where)


def _submit_installed(ctx, where):
    from tools import LONG, TRUE, Gsat

    rep = ctx.report
    reps = ctx.n("latency")
    try:
        venv_bin = install_venv(where, ctx.interp)
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
        rep.note("figure 3 (installed) skipped: %s" % e)
        return
    python = os.path.join(venv_bin, "python")
    with Gsat(python, "launcher", installed=venv_bin) as g:
        busy = g.submit(LONG)[0]
        ctx.wait(lambda: g.state(busy) == "running", "long job to run")
        times, bases, ratios = [], [], []
        for i in range(reps):
            base = g.box.run([python, "-c", "pass"]).seconds
            r = g.box.check(g.submit_argv(TRUE, i))
            times.append(r.seconds)
            bases.append(base)
            ratios.append(r.seconds / base)
        # The storm of figure 3 again, with the interpreter a user who
        # installs gsatellite has (issue 18 measures against it).
        clients, each = 10, ctx.n("per_client", "gsat")
        storms = [figures._storm(g, clients, each, k) for k in range(ctx.n("concurrency", "gsat"))]
    rep.row(3, "venv `python -c pass` (pip-installed gsatellite's interpreter)", fmt_s(median(bases)))
    rep.row(3, "`gqsub JOB` pip-installed in a fresh venv, slot busy", fmt_s(median(times)),
            fmt_ratio(median(ratios)) + " of venv `python -c pass`", "<= 15 ms, ratio <= 1.5")
    accepted = min(s[1] for s in storms)
    rep.row(3, "%d clients x %d `gqsub JOB` at once, pip-installed in a fresh venv" % (clients, each),
            fmt_s(median([s[0] for s in storms])), "%d/%d accepted" % (accepted, clients * each), "< 1 s")
    for s in storms:
        if s[3]:
            rep.note("installed gqsub, concurrency: %d submission(s) failed, e.g. %s"
                     % (len(s[3]), "; ".join(sorted(set(s[3]))[:3])))
    rep.command("figure 3 (installed): `%s -m venv DIR && DIR/bin/python -m pip install CHECKOUT`; the venv's gsatlcd "
                "started, `exec sleep 3600` running; `DIR/bin/python -c pass` and `DIR/bin/gqsub JOB` "
                "alternating, %d pairs; then the storm of figure 3 (10 threads x 10 `DIR/bin/gqsub JOB`)" % (ctx.interp, reps))
