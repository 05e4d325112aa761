#!/usr/bin/env python3
"""Run the benchmark suite, print the tables, write docs/benchmarks.md.

    python3 bench/run.py [--quick] [--only NAME[,NAME...]] [--no-install]
                         [--output PATH] [--readme PATH] [--tmpdir DIR]

NAME is a figure (baseline, sendcmd, submit, drain, idle, concurrency, wait,
trigger, slots, transport, listing) or a tool (gsat, classic, tsp, nq); figure names select
figures, tool names select tools.  The classic bash gsatellite is included
when GSAT_CLASSIC_DIR names a checkout of it.  Every process started is
stopped by PID when the run ends, fails or is interrupted.  The checkout's
lib/ is compiled to bytecode first, as pip does for an installed copy.
"""

import argparse
import os
import shutil
import subprocess
import sys
import time
import traceback

import common
import figures
import gsat
import idle
import jobfigs
import report
import tools
import transport
from common import Interrupted, log

FIGURES = [
    ("baseline", gsat.fig_baseline),
    ("sendcmd", gsat.fig_sendcmd),
    ("submit", [gsat.fig_submit_gsat, gsat.fig_submit_installed, figures.fig_submit_peers]),
    ("drain", figures.fig_drain),
    ("idle", idle.fig_idle),
    ("concurrency", figures.fig_concurrency),
    ("wait", figures.fig_wait),
    ("trigger", jobfigs.fig_trigger),
    ("slots", jobfigs.fig_slots),
    ("transport", transport.fig_transport),
    # Last: making and removing 10,000-job stores churns the filesystem, which
    # on some machines slows file creation for minutes afterwards.
    ("listing", figures.fig_listing),
]
TOOLS = ("gsat", "classic", "tsp", "nq")
# Modules whose figures are about gsatellite alone (skipped by --only tsp etc.).
GSAT_ONLY = ("gsat", "jobfigs", "transport")

# Repetitions: (full, quick); "classic" overrides where the bash tools are slow.
REPS = {
    "latency": (20, 5), "drain": (3, 1), "listing": (5, 3), "listing_big": (5, 3),
    "concurrency": (3, 1), "per_client": (10, 10), "wait": (10, 3), "idle": (60.0, 10.0),
    "big": (10000, 1000),
}
CLASSIC_REPS = {"latency": (5, 3), "drain": (1, 1), "listing": (3, 2), "listing_big": (1, 1),
                "concurrency": (1, 1), "per_client": (10, 2)}


class Ctx:
    def __init__(self, args, rep, interp, shim):
        self.quick = args.quick
        self.report = rep
        self.interp = interp
        self.shim_is_wrapper = os.path.realpath(shim) != os.path.realpath(interp)
        self.only_tools = set(args.only) & set(TOOLS)
        self.reasons = {}
        self.classic_dir = os.environ.get("GSAT_CLASSIC_DIR", "")
        self.peer_bins = {}

    def n(self, what, key=None):
        table = CLASSIC_REPS if key == "classic" and what in CLASSIC_REPS else REPS
        return table[what][1 if self.quick else 0]

    def want(self, key):
        return not self.only_tools or key in self.only_tools

    def available(self, key):
        return key not in self.reasons

    def peers(self, keys):
        return [k for k in keys if self.want(k) and self.available(k)]

    def tool(self, key, start=True):
        if key == "gsat":
            return tools.Gsat(self.interp, "direct", start=start)
        if key == "classic":
            return tools.Gsat(self.interp, classic_dir=self.classic_dir, start=start)
        if key == "tsp":
            return tools.Tsp(self.peer_bins["tsp"])
        return tools.Nq(*self.peer_bins["nq"])

    def wait(self, predicate, what, timeout=30):
        if not common.wait_until(predicate, timeout, 0.01):
            raise RuntimeError("timed out waiting for %s" % what)


def find_tools(ctx, install):
    if not ctx.classic_dir:
        ctx.reasons["classic"] = "skipped: GSAT_CLASSIC_DIR not set"
    elif not os.path.isfile(os.path.join(ctx.classic_dir, "bin", "gsatlcd")):
        ctx.reasons["classic"] = "skipped: no bin/gsatlcd in GSAT_CLASSIC_DIR"
    if ctx.want("tsp"):
        path, why = tools.find_peer(("tsp", "ts"), "task-spooler", install)
        if path and os.path.basename(path) == "ts" and "spooler" not in _help(path):
            path, why = None, "`ts` on PATH is not task-spooler (moreutils?)"
        if path:
            ctx.peer_bins["tsp"] = path
        else:
            ctx.reasons["tsp"] = "skipped: " + why
    if ctx.want("nq"):
        nq, why = tools.find_peer(("nq",), "nq", install)
        fq = shutil.which("fq")
        if nq and fq:
            ctx.peer_bins["nq"] = (nq, fq)
        else:
            ctx.reasons["nq"] = "skipped: " + (why or "fq not found")


def _help(path):
    import subprocess

    try:
        p = subprocess.run([path, "-h"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return (p.stdout + p.stderr).lower()


def compile_lib(interp):
    """Write lib/'s bytecode, as pip does at install time.  Where
    PYTHONDONTWRITEBYTECODE is set (as on the machine this suite was written
    on) nothing else writes it, and every command would compile our modules
    again, which an installed copy never does (~10 ms per command here)."""
    r = subprocess.run([interp, "-m", "compileall", "-q", "lib"], cwd=common.ROOT,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    text = "lib/ compiled at the start with `%s -m compileall -q lib`" % interp
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        text += " (PYTHONDONTWRITEBYTECODE is set here, so nothing else would write it)"
    if r.returncode != 0:
        text += "; it failed: %s" % r.stdout.strip().splitlines()[-1:]
    return text


def _rmdir(path):
    try:
        os.rmdir(path)  # only if empty
    except OSError:
        pass


def default_tmpdir():
    # On the filesystem of the real $HOME, which is where gsatellite keeps its
    # state; /tmp may be tmpfs (too kind) or, on some machines, watched (slow).
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "gsat-bench")


def parse(argv):
    p = argparse.ArgumentParser(prog="bench/run.py", description="gsatellite benchmark suite")
    p.add_argument("--quick", action="store_true", help="fewer repetitions, for a smoke test")
    p.add_argument("--only", default="", help="comma-separated figure and/or tool names")
    p.add_argument("--no-install", action="store_true", help="never apt-get install tsp/nq")
    p.add_argument("--output", default=os.path.join(common.ROOT, "docs", "benchmarks.md"))
    p.add_argument("--readme", default=None,
                   help="write the side-by-side table between the headline lines of this file "
                        "(default: README.md, after a full run only: no --only, no --quick)")
    p.add_argument("--tmpdir", default=None,
                   help="where the temporary homes go (default: ~/.cache/gsat-bench, on the "
                        "filesystem of your real $HOME)")
    args = p.parse_args(argv)
    args.only = [x.strip() for x in args.only.split(",") if x.strip()]
    known = [name for name, _ in FIGURES] + list(TOOLS)
    bad = [x for x in args.only if x not in known]
    if bad:
        p.error("unknown name(s) %s; known: %s" % (", ".join(bad), ", ".join(known)))
    return args


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = parse(argv)
    common.install_signal_handlers()
    tmpdir = args.tmpdir or default_tmpdir()
    made = not os.path.isdir(tmpdir)
    os.makedirs(tmpdir, exist_ok=True)
    common.BASE[0] = tmpdir
    where = "%s (creating a small file there: %.0f us before the run" % (tmpdir, common.create_cost(tmpdir) * 1e6)
    shim, interp, version = tools.real_python()
    bytecode = compile_lib(interp)
    log(bytecode)
    rep = report.Report(["bench/run.py"] + argv, [])
    ctx = Ctx(args, rep, interp, shim)
    only_figs = set(args.only) - set(TOOLS)
    code = 0
    try:
        find_tools(ctx, not args.no_install)
        rep.columns = [(k, t) for k, t in (("gsat", "gsatellite (Python)"), ("classic", "classic gsatellite"),
                                          ("tsp", "task-spooler"), ("nq", "nq")) if ctx.want(k)]
        rep.note("JOB is a `#!/bin/sh` script holding the command line the tsp/nq job runs; the "
                 "side-by-side gsatellite column starts commands as `<real interpreter> bin/CMD`")
        for key, why in ctx.reasons.items():
            for letter, _ in report.PEER_ROWS:
                rep.cell(letter, key, why)
        for name, funcs in FIGURES:
            if only_figs and name not in only_figs:
                continue
            for func in funcs if isinstance(funcs, list) else [funcs]:
                if func.__module__ in GSAT_ONLY and not ctx.want("gsat"):
                    continue
                log("figure %s (%s)" % (name, func.__name__))
                start = time.monotonic()
                try:
                    func(ctx)
                except (Interrupted, KeyboardInterrupt):
                    raise
                except Exception as e:
                    code = 1
                    traceback.print_exc()
                    rep.note("figure %s failed: %s" % (name, e))
                finally:
                    common.close_all()
                log("figure %s done in %.1f s" % (name, time.monotonic() - start))
    except (Interrupted, KeyboardInterrupt) as e:
        common.ignore_signals()
        log("interrupted (%s); cleaning up" % (e or "Ctrl-C"))
        common.close_all()
        common.empty_trash()
        if made:
            _rmdir(tmpdir)
        return 130
    finally:
        common.close_all()
    rep.finished = time.time()
    try:
        where += ", %.0f us after)" % (common.create_cost(tmpdir) * 1e6)
    except OSError:
        where += ")"
    if args.quick:
        rep.note("--quick run: fewer repetitions and smaller sizes; see the figures' notes")
    rep.info = {"interp": interp, "version": version, "tmpdir": where, "bytecode": bytecode,
                "shim": "%s -> %s" % (shim, interp) if ctx.shim_is_wrapper else shim}
    common.empty_trash()
    if made:
        _rmdir(tmpdir)
    sys.stdout.write(rep.text())
    text = rep.markdown()
    try:
        with open(args.output) as f:
            text = report.merge(f.read(), text)
    except FileNotFoundError:
        pass
    report.write(args.output, text)
    log("wrote %s" % args.output)
    readme = args.readme or (None if args.only or args.quick or code else os.path.join(common.ROOT, "README.md"))
    if readme:
        with open(readme) as f:
            text = f.read()
        try:
            report.write(readme, report.splice(text, rep.headline()))
            log("wrote the headline table in %s" % readme)
        except ValueError as e:
            log("%s: %s" % (readme, e))
            code = 1
    return code


if __name__ == "__main__":
    sys.exit(main())
