#!/usr/bin/env python3
"""What a job costs with a long queue behind it (issue 18).

    python3 bench/long_queue.py [--jobs 100,2000] [--runs 2] [--tmpdir DIR] [--bin DIR]

For each queue length N: a controller in a fresh ``$HOME``, N ``true``
jobs submitted in one ``gqsub`` call, drained on one slot.  Printed: the
drain (first submission to the last job's end) per job, and the
controller's own CPU (utime + stime from /proc, its start-up included)
per job.  A cost that grows with N is the scheduler's work per pass over
the queue.  ``--bin`` runs another checkout's commands in turn with this
one's (A/B, alternating, the ratio taken pair by pair).
"""

import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402
import jobfigs  # noqa: E402
import tools  # noqa: E402


def run_once(n, bin_dir=None):
    """(drain seconds, controller CPU seconds) for ``n`` jobs."""
    g = tools.Gsat(sys.executable, "direct")
    if bin_dir:
        g.bin = bin_dir
    with g:
        pid = g.controller_pid()
        took = g.drain(tools.TRUE, n, one_call=True)
        user, system, _ = jobfigs._cpu(pid)
        return took, user + system


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--jobs", default="100,2000")
    p.add_argument("--runs", type=int, default=2)
    p.add_argument("--tmpdir", default=None, help="where the temporary homes go (default: as bench/run.py)")
    p.add_argument("--bin", default=None, help="the bin/ of another checkout, run in turn with this one")
    args = p.parse_args(argv)
    common.BASE[0] = args.tmpdir or os.path.expanduser("~/.cache/gsat-bench")
    os.makedirs(common.BASE[0], exist_ok=True)
    common.install_signal_handlers()
    trees = [("this tree", None)] + ([("--bin", os.path.abspath(args.bin))] if args.bin else [])
    print("one slot, `true` jobs in one gqsub call, %s; medians of %d run(s)" % (common.BASE[0], args.runs))
    for n in [int(x) for x in args.jobs.split(",")]:
        got = {name: [] for name, _ in trees}
        for _ in range(args.runs):
            for name, bin_dir in trees:
                got[name].append(run_once(n, bin_dir))
        for name, _ in trees:
            took = statistics.median(t for t, _ in got[name])
            cpu = statistics.median(c for _, c in got[name])
            print("N=%-6d %-9s drain %7.2f ms a job, controller CPU %6.2f ms a job"
                  % (n, name, 1000 * took / n, 1000 * cpu / n))
        if args.bin:
            pairs = list(zip(got["this tree"], got["--bin"]))
            print("N=%-6d this tree / --bin: drain %.2fx, controller CPU %.2fx (medians of the pairs)"
                  % (n, statistics.median(a[0] / b[0] for a, b in pairs),
                     statistics.median(a[1] / b[1] for a, b in pairs if b[1])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
