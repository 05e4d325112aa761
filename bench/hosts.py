#!/usr/bin/env python3
"""Several hosts, one $HOME (issue 17): cross-host request latency and the
idle cost of the signal forwarders.

    python3 bench/hosts.py [--runs N] [--idle SECONDS] [--output docs/benchmarks.md]

Two simulated hosts share a temporary $HOME: namespaces (UTS for the host
name, PID so that no signal crosses, mount for /proc), as in
tests/e2e/test_multi_host.py; root only.  Host A runs the controller, host B
nothing but what its clients start (its forwarder).  Every command runs
inside a host through ``nsenter`` as ``<real interpreter> bin/CMD``, so
the local and the cross-host figure pay the same start-up:

* ``gqsub JOB`` from A (local) and from B (cross-host), interleaved, with a
  sleeping job holding the only slot so that submissions just queue;
* ``sendcmd -c ALIVE? -m BOX`` to the controller from A and from B;
* the idle CPU of A's and of B's sigfwd over a window (bench/idle.py).

Prints the medians; with --output it replaces the "## Several hosts"
section of that file.  Every process started is stopped by PID (each
host's namespace init takes its processes along).
"""

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

from common import ROOT, all_pids, log, proc_stat, read, replace_section
import idle

NS = ["unshare", "--uts", "--pid", "--fork", "--mount-proc"]
TITLE = "Several hosts, one $HOME (issue 17)"


class Host:
    def __init__(self, env, cwd, name):
        self.env, self.cwd, self.name = env, cwd, name
        self.unshare = subprocess.Popen(NS + ["bash", "-c", 'hostname "$1" && exec sleep 100000', "init", name],
                                        env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.init = None
        deadline = time.monotonic() + 10
        while self.init is None and time.monotonic() < deadline:
            for pid in _children(self.unshare.pid):
                if read("/proc/%d/comm" % pid) == "sleep":
                    self.init = pid
            time.sleep(0.01)
        if self.init is None:
            raise SystemExit("no namespace for %s (root and unshare needed)" % name)

    def argv(self, *command):
        return ["nsenter", "--target", str(self.init), "--uts", "--pid", "--mount", "--"] + list(command)

    def run(self, *command):
        return subprocess.run(self.argv(*command), env=self.env, cwd=self.cwd, capture_output=True,
                              text=True, timeout=120)

    def timed(self, *command):
        start = time.perf_counter()
        p = self.run(*command)
        elapsed = time.perf_counter() - start
        if p.returncode != 0:
            raise SystemExit("%s on %s failed: %s" % (" ".join(command), self.name, p.stderr.strip()))
        return elapsed

    def outer(self, inner):
        """Our PID of this host's process ``inner``."""
        ns = os.readlink("/proc/%d/ns/pid" % self.init)
        for name in os.listdir("/proc"):
            try:
                if name.isdigit() and os.readlink("/proc/%s/ns/pid" % name) == ns:
                    for line in read("/proc/%s/status" % name).splitlines():
                        if line.startswith("NSpid:") and line.split()[-1] == str(inner):
                            return int(name)
            except OSError:
                continue
        return None

    def kill(self):
        try:
            os.kill(self.init, signal.SIGKILL)
        except OSError:
            pass
        if self.unshare.poll() is None:
            self.unshare.kill()
        self.unshare.wait()


def _children(pid):
    return [p for p in all_pids() if (proc_stat(p) or [None, None])[1] == str(pid)]


def bin_cmd(name):
    return [sys.executable, os.path.join(ROOT, "bin", name)]


def measure(runs, window):
    tmp = tempfile.mkdtemp(prefix="gsat-hosts-bench.")
    env = dict(os.environ, HOME=tmp, PATH=os.path.join(ROOT, "bin") + os.pathsep + os.environ["PATH"],
               GSAT_MAIL_SERVICE="no")
    env.pop("GSAT_HOSTNAME", None)
    g = os.path.join(tmp, ".gsatellite")
    hosts = []
    try:
        a, b = Host(env, tmp, "hostA"), Host(env, tmp, "hostB")
        hosts += [a, b]
        p = a.run(*bin_cmd("gsatlcd"), "--start")
        if p.returncode != 0:
            raise SystemExit("gsatlcd --start failed: %s" % p.stderr)
        job = os.path.join(tmp, "wait.job")
        with open(job, "w") as f:
            f.write("#!/bin/bash\nsleep 3600\n")
        a.timed(*bin_cmd("gqsub"), job)  # holds the only slot
        box = os.path.join(g, "mboxes", read(os.path.join(g, "gsatlcHostName")),
                           "%s.inbox" % read(os.path.join(g, "gsatlcPid")))
        b.timed(*bin_cmd("gqsub"), job)  # warm-up; starts B's forwarder
        figures = {}
        for what, command in (("gqsub JOB", bin_cmd("gqsub") + [job]),
                              ("sendcmd -c ALIVE?", bin_cmd("sendcmd") + ["-c", "ALIVE?", "-m", box])):
            local, remote = [], []
            for _ in range(runs):
                local.append(a.timed(*command))
                remote.append(b.timed(*command))
            figures[what] = (statistics.median(local), statistics.median(remote),
                             statistics.median(there / here for here, there in zip(local, remote)))
            log("%s: local %.0f ms, cross-host %.0f ms" % (what, 1000 * figures[what][0], 1000 * figures[what][1]))
        time.sleep(2)  # let the submissions' work settle
        forwarders = []
        for host in (a, b):
            inner = read(os.path.join(g, "var", "run", host.run("hostname").stdout.strip(), "sigfwd.pid"))
            pid = host.outer(int(inner)) if inner.isdigit() else None
            if pid is None:
                raise SystemExit("no forwarder on %s" % host.name)
            forwarders.append((host.name, pid))
        log("idle: the forwarders of A and B, %.0f s" % window)
        cost = idle.measure([pid for _, pid in forwarders], window)  # both together, same window
        per = [(name, idle.measure([pid], min(window, 10.0))) for name, pid in forwarders]
        return figures, cost, per
    finally:
        for host in hosts:
            host.kill()
        shutil.rmtree(tmp, ignore_errors=True)


def section(figures, cost, per, runs, window):
    lines = ["## " + TITLE, "",
             "bench/hosts.py: two simulated hosts (UTS+PID+mount namespaces) share one `$HOME`; A runs the",
             "controller.  Each command runs through `nsenter` as `<real interpreter> bin/CMD` on A (local) and",
             "on B (cross-host), interleaved, median of %d; the ratio is taken pair by pair.  %s, %d cores." % (
                 runs, time.strftime("%Y-%m-%d"), os.cpu_count()), "",
             "| request | local | cross-host | ratio (target < 2) |", "|---|---|---|---|"]
    for what, (local, remote, ratio) in figures.items():
        lines.append("| `%s` | %.0f ms | %.0f ms | %.2f |" % (what, 1000 * local, 1000 * remote, ratio))
    lines += ["", "Idle forwarders (target < 0.05 %% of a core each): both together %.3f %% of a core over %.0f s"
              % (cost["cpu_pct"], window)]
    lines += ["(own run time %.3f %%, %d processes spawned); %s." % (
        cost["own_pct"], cost["spawned"],
        ", ".join("%s's alone %.3f %%" % (name, m["own_pct"]) for name, m in per))]
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--idle", type=float, default=30.0)
    ap.add_argument("--output")
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("bench/hosts.py needs root (namespaces)")
    figures, cost, per = measure(args.runs, args.idle)
    text = section(figures, cost, per, args.runs, args.idle)
    sys.stdout.write(text)
    if args.output:
        replace_section(args.output, TITLE, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
