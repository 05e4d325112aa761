"""Figures measured for every tool: submit latency (a), drain (b, figure 4),
listing (c, figure 5), concurrency (e) and wait (f, figure 8).

gsatellite's cells in the side-by-side table use ``<real interpreter>
bin/CMD`` so that a pyenv shim on this machine does not count against it;
figure rows give both ways of starting it.
"""

import os
import socket
import subprocess
import tempfile
import threading
import time

import common
import store
from common import Interrupted, fmt_s, log, median, tmpfs_base
from tools import LONG, TRUE, mark_job

PEERS = ("classic", "tsp", "nq")


def fig_submit_peers(ctx):
    for key in ctx.peers(PEERS):
        reps = ctx.n("latency", key)
        with ctx.tool(key) as t:
            t.submit(LONG)
            time.sleep(0.3 if key != "classic" else 1.0)
            times = []
            for i in range(reps):
                r = t.box.check(t.submit_argv(TRUE, i))
                times.append(r.seconds)
        ctx.report.cell("a", key, fmt_s(median(times)))
        ctx.report.command("%s: `%s` while a `sleep 3600` job runs, %d times" % (t.title, t.submit_text, reps))


def fig_drain(ctx):
    rep = ctx.report
    n = 100
    reps = ctx.n("drain")
    if ctx.want("gsat"):
        runs = {}
        with ctx.tool("gsat") as g:
            # Interleaved, so that drift (this machine's disk varies) hits all alike.
            for _ in range(reps):
                for variant in ("launcher", "direct"):
                    for one in (True, False):
                        runs.setdefault((variant, one), []).append(
                            g.drain(TRUE, n, one_call=one, variant=variant))
        res = {k: median(v) for k, v in runs.items()}
        with tmpfs_base() as shm:
            if shm:
                with ctx.tool("gsat") as g:
                    res["tmpfs"] = median([g.drain(TRUE, n, one_call=True) for _ in range(reps)])
        for variant, label in (("launcher", "via launcher"), ("direct", "as `<real> bin/gqsub`")):
            rep.row(4, "drain 100 `true` jobs, one `gqsub f1 ... f100` call, %s" % label,
                    fmt_s(res[variant, True]), "", "<= 0.3 s")
            rep.row(4, "drain 100 `true` jobs, 100 `gqsub` calls, %s" % label, fmt_s(res[variant, False]))
        if "tmpfs" in res:
            rep.row(4, "drain 100 `true` jobs, one call, `<real> bin/gqsub`, $HOME on tmpfs (/dev/shm)",
                    fmt_s(res["tmpfs"]), "", "<= 0.3 s")
            rep.note("figure 4: the tmpfs row shows how much of the drain is file creation on this "
                     "machine's disk (see the file creation cost in the header)")
        rep.cell("b", "gsat", "%s (one call), %s (100 calls)" % (fmt_s(res["direct", True]),
                                                                fmt_s(res["direct", False])))
        rep.command("gsatellite: `gqsub f1 ... f100` (one call) and 100 x `gqsub fN`, each way of starting, "
                    "%d run(s); the end is seen by reading the last job's `job.state`" % reps)
    for key in ctx.peers(PEERS):
        jobs = 100 if not (key == "classic" and ctx.quick) else 10
        r = ctx.n("drain", key)
        with ctx.tool(key) as t:
            times = [t.drain(TRUE, jobs) for _ in range(r)]
        text = "%s (%d calls)" % (fmt_s(median(times)), jobs)
        if jobs != n:
            text += ", only %d jobs (--quick)" % jobs
        rep.cell("b", key, text)
        if key == "tsp" and jobs == n and ctx.want("gsat"):
            rep.row(4, "drain 100 `true` jobs, one `<real> bin/gqsub` call, against task-spooler's 100 "
                    "`tsp true` calls (same run)", "%.1fx" % (res["direct", True] / median(times)),
                    "task-spooler %s" % fmt_s(median(times)), "<= 2x")
        how = {"classic": "%d x `gqsub JOB`, end read from `job.state`" % jobs,
               "tsp": "100 x `tsp true`, then `tsp -w LASTID`",
               "nq": "100 x `nq true`, then, once every job file has its name, `nq -w ID1 ... ID100`"}[key]
        rep.command("%s: %s, %d run(s)" % (t.title, how, r))


def _time_list(t, reps, detailed=False, argv=None, cold=False):
    """Median time of listing the store; ``cold``: each run without
    gqstat's listing cache, as the first listing after the jobs ended."""
    argv = argv or t.list_argv(detailed)
    times = []
    for _ in range(reps):
        if cold:
            for kind in ("table", "long"):
                try:
                    os.unlink(os.path.join(t.g, "var", "cache", "listing." + kind))
                except FileNotFoundError:
                    pass
        r = t.box.run(argv)
        if r.rc != 0:
            raise RuntimeError("%s exited %s: %s" % (argv, r.rc, r.err.strip()))
        times.append(r.seconds)
    return median(times)


def fig_listing(ctx):
    _listing_gsat(ctx)
    for key in ctx.peers(("tsp", "nq")):
        big = ctx.n("big", key)
        reps = ctx.n("listing", key)
        with ctx.tool(key) as t:
            sizes = []
            done = 0
            how = ""
            for size, r in ((SMALL, reps), (big, ctx.n("listing_big", key))):
                log("%s: making %d ended jobs" % (key, size - done))
                start = time.perf_counter()
                how = t.make_ended(size - done)
                log("%s: made in %.1f s" % (key, time.perf_counter() - start))
                done = size
                sizes.append((size, _time_list(t, r), r))
        _listing_cell(ctx, key, [s for _, s, _ in sizes], big)
        cmd = {"tsp": "`tsp -l`", "nq": "`fq -a -n -q`"}[key]
        ctx.report.command("%s: %s; ended jobs %s; runs: %s" % (t.title, cmd, how, ", ".join(
            "%d for %s" % (r, format(s, ",")) for s, _, r in sizes)))


SMALL, BIG = 100, 10000


def _listing_cell(ctx, key, times, big):
    text = " / ".join(fmt_s(s) for s in times)
    if big != BIG:
        text += " (%s instead of 10,000)" % format(big, ",")
    ctx.report.cell("c", key, text)


def _listing_gsat(ctx):
    """gsatellite and the classic gqstat read one store, filled once."""
    rep = ctx.report
    want_gsat = ctx.want("gsat")
    want_classic = bool(ctx.peers(("classic",)))
    if not (want_gsat or want_classic):
        return
    installed, where = None, None
    if want_gsat:
        # gqstat as pip installs it (issue 18 measures a user's commands
        # against a fresh venv's interpreter, not a crowded global one).
        import gsat

        where = tempfile.mkdtemp(prefix="gsat-bench-venv-", dir=common.BASE[0])
        try:
            installed = gsat.install_venv(where, ctx.interp)
        except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
            rep.note("figure 5 (installed) skipped: %s" % e)
    try:
        _listing_gsat_in(ctx, want_gsat, want_classic, installed)
    finally:
        if where:
            common.discard(where)


def _listing_gsat_in(ctx, want_gsat, want_classic, installed):
    rep = ctx.report
    classic_big = ctx.n("big", "classic")
    sizes = sorted({SMALL} | ({BIG} if want_gsat else set()) | ({classic_big} if want_classic else set()))
    reps = ctx.n("listing")
    res, classic = {}, []
    with ctx.tool("gsat", start=False) as g:
        c = ctx.tool("classic", start=False) if want_classic else None
        done = 0
        for size in sizes:
            log("gqstat: filling the store to %d jobs" % size)
            store.fill(g.g, size - done, socket.gethostname())
            done = size
            if want_gsat and size in (SMALL, BIG):
                for variant in ("launcher", "direct"):
                    g.variant = variant
                    res[size, variant] = (_time_list(g, reps), _time_list(g, reps, True))
                if installed:
                    argv = [os.path.join(installed, "gqstat")]
                    res[size, "installed"] = (_time_list(g, reps, argv=argv),
                                              _time_list(g, reps, argv=argv + ["-f"]))
                    if size == BIG:
                        res[size, "cold"] = (_time_list(g, reps, argv=argv, cold=True),
                                             _time_list(g, reps, argv=argv + ["-f"], cold=True))
            if c is not None and size in (SMALL, classic_big):
                r = ctx.n("listing" if size == SMALL else "listing_big", "classic")
                path = {"PATH": os.pathsep.join([c.bin, g.box.env["PATH"]])}
                times = [g.box.run(c.cmd("gqstat"), timeout=900, env=path) for _ in range(r)]
                if any(x.rc != 0 for x in times):
                    raise RuntimeError("classic gqstat failed: %s" % times[0].err.strip())
                classic.append((size, median([x.seconds for x in times]), r))
    if want_gsat:
        for size in (BIG, SMALL):
            for variant, label in (("launcher", "via launcher"), ("direct", "as `<real> bin/gqstat`"),
                                   ("installed", "pip-installed in a fresh venv"),
                                   ("cold", "pip-installed, its listing cache empty (the first listing)")):
                if (size, variant) not in res:
                    continue
                plain, full = res[size, variant]
                goal = size == BIG and variant != "cold"
                rep.row(5, "`gqstat`, %s jobs in the store, %s" % (format(size, ","), label), fmt_s(plain),
                        "", "<= 0.1 s" if goal else "")
                rep.row(5, "`gqstat -f`, %s jobs, %s" % (format(size, ","), label), fmt_s(full),
                        "", "<= 0.3 s" if goal else "")
        rep.cell("c", "gsat", "%s / %s (`-f`: %s / %s)" % (
            fmt_s(res[SMALL, "direct"][0]), fmt_s(res[BIG, "direct"][0]),
            fmt_s(res[SMALL, "direct"][1]), fmt_s(res[BIG, "direct"][1])))
        rep.command("gsatellite: store filled directly on disk in the classic layout (finished jobs); "
                    "`gqstat` and `gqstat -f`, each way of starting (pip-installed: `DIR/bin/gqstat` of the "
                    "venv made as in figure 3b), %d run(s) each" % reps)
    if classic:
        _listing_cell(ctx, "classic", [s for _, s, _ in classic], classic_big)
        rep.command("classic gsatellite: its `gqstat` (classic bin/ first on PATH) on the same store; runs: %s"
                    % ", ".join("%d for %s" % (r, format(s, ",")) for s, _, r in classic))


def fig_concurrency(ctx):
    for key in ctx.peers(("gsat",) + PEERS):
        clients, each = 10, ctx.n("per_client", key)
        reps = ctx.n("concurrency", key)
        runs = []
        with ctx.tool(key) as t:
            t.submit(LONG)
            time.sleep(0.3 if key != "classic" else 1.0)
            for rep in range(reps):
                runs.append(_storm(t, clients, each, rep))
        took = median([r[0] for r in runs])
        accepted = min(r[1] for r in runs)
        distinct = min(r[2] for r in runs)
        total = clients * each
        text = "%s, %d/%d accepted, %d distinct ids" % (fmt_s(took), accepted, total, distinct)
        if each != 10:
            text += " (%d x %d, --quick)" % (clients, each)
        ctx.report.cell("e", key, text)
        if key == "gsat":
            ctx.report.row(3, "%d clients x %d `gqsub JOB` at once, `<real> bin/gqsub`" % (clients, each),
                           fmt_s(took), "", "< 1 s")
        for errors in (r[3] for r in runs):
            if errors:
                ctx.report.note("%s, concurrency: %d submission(s) failed, e.g. %s"
                                % (t.title, len(errors), "; ".join(sorted(set(errors))[:3])))
        ctx.report.command("%s: %d threads start together, each runs `%s` %d times in a row; "
                           "%d run(s)" % (t.title, clients, t.submit_text, each, reps))


def _storm(t, clients, each, rep):
    barrier = threading.Barrier(clients + 1)
    results = [[] for _ in range(clients)]
    # Built before the start: for gsatellite this writes the job files.
    argvs = [[t.submit_argv(TRUE, 1000 + rep * 1000 + k * each + i) for i in range(each)]
             for k in range(clients)]

    def client(k):
        try:
            barrier.wait()
            for argv in argvs[k]:
                r = t.box.run(argv)
                results[k].append((r.rc, t.parse_id(r.out), r.end, r.err))
        except (Interrupted, threading.BrokenBarrierError):
            pass  # the run is being interrupted; the main thread cleans up

    threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(clients)]
    for th in threads:
        th.start()
    barrier.wait()
    start = time.perf_counter()
    for th in threads:
        th.join()
    flat = [x for res in results for x in res]
    ok = [i for rc, i, _, _ in flat if rc == 0 and i]
    errors = ["exit %s: %s" % (rc, err.strip().splitlines()[-1] if err.strip() else "(no message)")
              for rc, i, _, err in flat if rc != 0 or not i]
    return max(x[2] for x in flat) - start, len(ok), len(set(ok)), errors


def fig_wait(ctx):
    for key in ctx.peers(("gsat",) + PEERS):
        t = ctx.tool(key)
        ok, why = t.has_wait()
        if not ok:
            ctx.report.cell("f", key, why)
            continue
        with t:
            reps = ctx.n("wait", key)
            lat, codes = [], []
            for i in range(reps):
                mark = t.box.path("tmp", "mark.%d" % i)
                job_id = t.submit(mark_job(mark, 0.5, i))[0]
                t.ready([job_id])
                r = t.box.run(t.wait_argv(job_id), timeout=60)
                if r.rc is None:
                    raise RuntimeError("%s did not return" % t.wait_argv(job_id))
                try:
                    with open(mark) as f:
                        exited = float(f.read().strip())
                except (OSError, ValueError):
                    raise RuntimeError("%s returned (%s) before the job ended" % (t.wait_argv(job_id), r.rc))
                lat.append(r.wall - exited)
                if r.rc != 0:
                    codes.append(r.rc)
        ctx.report.cell("f", key, fmt_s(median(lat)) + (" (target <= 3 ms)" if key == "gsat" else ""))
        if key == "gsat":
            ctx.report.row(8, "job exit to the return of `<real> bin/gqwait ID` (started right after "
                           "submitting)", fmt_s(median(lat)), "", "<= 3 ms")
        if codes:
            ctx.report.note("%s: `%s` exited %s although the job exited 0" % (t.title, t.wait_title, codes))
        ctx.report.command("%s: job `sleep 0.5; date +%%s.%%N > MARK`, then `%s` started at once; "
                           "latency = wall clock at its return - MARK, %d runs" % (t.title, t.wait_title, reps))
