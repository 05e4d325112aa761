"""The tools under comparison, each behind the same small interface.

``Gsat`` drives this checkout's gsatellite (``variant`` "launcher": the
commands as found on PATH through their ``#!/usr/bin/env python3`` line;
"direct": ``<real interpreter> bin/CMD``) or, given ``classic_dir``, the
classic bash gsatellite (``GSAT_CLASSIC_DIR``).  ``Tsp`` drives
task-spooler and ``Nq`` drives nq.  A job is described once (:class:`Job`)
and turned into a script file for gsatellite or a command line for tsp/nq.
"""

import os
import shlex
import shutil
import subprocess
import time

from common import ROOT, Sandbox, log, read, tagged_pids, user_env, wait_until


class Job:
    """What a job runs: ``argv`` for tsp/nq, ``body`` for a gsatellite script."""

    def __init__(self, name, argv, body=None):
        self.name, self.argv = name, list(argv)
        self.body = body if body is not None else " ".join(shlex.quote(a) for a in argv) + "\n"


TRUE = Job("true", ["true"])
LONG = Job("long", ["sleep", "3600"], "exec sleep 3600\n")


def mark_job(path, delay, n):
    """A job that sleeps, then writes the wall-clock time and exits at once."""
    body = "sleep %s\ndate +%%s.%%N > %s\n" % (delay, shlex.quote(path))
    return Job("mark%d" % n, ["sh", "-c", body], body)


def real_python():
    """(`python3` as found on the user's PATH, the interpreter it finally
    runs, that interpreter's version)."""
    env = user_env()
    out = subprocess.run(["python3", "-c", "import platform, sys; print(sys.executable); "
                          "print(platform.python_version())"], env=env,
                         capture_output=True, text=True, check=True).stdout.split()
    return shutil.which("python3", path=env.get("PATH")) or "python3", out[0], out[1]


class Tool:
    """One tool in a fresh sandbox: ``with tool: ...`` starts and stops it."""

    key = title = ""
    submit_text = ""
    wait_title = ""
    box = None

    def open(self):
        raise NotImplementedError

    def close(self):
        if self.box is not None:
            try:
                self.stop_daemon()
            finally:
                self.box.close()
                self.box = None

    def stop_daemon(self):
        pass

    def __enter__(self):
        self.open()
        return self

    def __exit__(self, *exc):
        self.close()

    def submit(self, job, many=1):
        """Submit ``many`` copies, one client call each; returns the ids."""
        return [self.parse_id(self.box.check(self.submit_argv(job, i)).out) for i in range(many)]

    def parse_id(self, out):
        return out.strip()

    def ready(self, ids):
        """Return once the wait command can see every job in ``ids``."""

    def wait_all_argv(self, ids):
        return self.wait_argv(ids[-1])

    def drain(self, job, n, one_call=False):
        """Seconds from the first submission to the end of the last job."""
        start = time.perf_counter()
        ids = self.submit(job, n)
        self.ready(ids)
        r = self.box.check(self.wait_all_argv(ids), timeout=600)
        return r.end - start


class Gsat(Tool):
    def __init__(self, interp, variant="direct", classic_dir=None, start=True, env=None, installed=None):
        self.interp, self.variant, self.classic = interp, variant, classic_dir
        self.start, self.env = start, env
        if classic_dir:
            self.key, self.title = "classic", "classic gsatellite"
            self.bin = os.path.join(classic_dir, "bin")
        elif installed:
            # The commands pip installed into a virtual environment (its bin/),
            # found on PATH: use variant "launcher".
            self.key, self.title = "gsat", "gsatellite (pip-installed)"
            self.bin = installed
        else:
            self.key, self.title = "gsat", "gsatellite"
            self.bin = os.path.join(ROOT, "bin")
        self.wait_title = "gqwait ID"
        self.submit_text = "gqsub JOB"

    def cmd(self, name, *args, variant=None):
        if (variant or self.variant) == "direct" and not self.classic:
            return [self.interp, os.path.join(self.bin, name)] + list(args)
        return [name] + list(args)

    def open(self):
        self.box = Sandbox(self.key, path_prefix=[self.bin], env=self.env)
        self.g = os.path.join(self.box.home, ".gsatellite")
        self.started = self.start
        if not self.start:
            return self
        self.box.check(self.cmd("gsatlcd", "--start"), timeout=60)
        if self.classic:
            # The classic gsatlcd returns before the controller is up.
            if not wait_until(self._classic_up, 60, 0.2):
                raise RuntimeError("classic gsatlc did not come up")
        return self

    def _classic_up(self):
        if not (os.path.exists(os.path.join(self.g, "gsatlcPid")) and self.sigfwd_pid()):
            return False
        r = self.box.run(self.cmd("sendcmd", "-c", "ALIVE?", "-m", self.controller_box()), timeout=20)
        return r.rc == 0 and r.out.strip() == "YES"

    def stop_daemon(self):
        if self.started:
            self.box.run(self.cmd("gsatlcd", "--stop"), timeout=30)

    def controller_pid(self):
        pid = read(os.path.join(self.g, "gsatlcPid"))
        return int(pid) if pid.isdigit() else None

    def sigfwd_pid(self):
        run = os.path.join(self.g, "var", "run")
        for host in sorted(os.listdir(run)) if os.path.isdir(run) else []:
            pid = read(os.path.join(run, host, "sigfwd.pid"))
            if pid.isdigit():
                return int(pid)
        return None

    def daemon_pids(self):
        return [p for p in (self.controller_pid(), self.sigfwd_pid()) if p]

    def controller_box(self):
        host = read(os.path.join(self.g, "gsatlcHostName"))
        return os.path.join(self.g, "mboxes", host, "%d.inbox" % self.controller_pid())

    def job_file(self, job, i=0):
        path = os.path.join(self.box.work, "%s-%03d.job" % (job.name, i))
        if not os.path.exists(path):
            with open(path, "w") as f:
                f.write("#!/bin/sh\n" + job.body)
            os.chmod(path, 0o755)
        return path

    def submit_argv(self, job, i=0, variant=None):
        return self.cmd("gqsub", self.job_file(job, i), variant=variant)

    def state(self, job_id):
        return read(os.path.join(self.g, "gschedule", "jobs", job_id + ".d", "job.state"))

    def ended(self, job_id):
        return self.state(job_id) in ("finished", "failed")

    def wait_argv(self, job_id):
        return self.cmd("gqwait", job_id)

    def has_wait(self):
        if self.classic:
            return False, "n/a (classic gqwait: \"not available yet\")"
        if not os.path.exists(os.path.join(self.bin, "gqwait")):
            return False, "n/a (gqwait not available)"
        return True, ""

    def list_argv(self, detailed=False):
        return self.cmd("gqstat", "-f") if detailed else self.cmd("gqstat")

    def drain(self, job, n, one_call=False, variant=None):
        files = [self.job_file(job, i) for i in range(n)]
        start = time.perf_counter()
        if one_call:
            ids = self.box.check(self.cmd("gqsub", *files, variant=variant)).out.split()
        else:
            ids = [self.box.check(self.cmd("gqsub", f, variant=variant)).out.strip() for f in files]
        if len(ids) != n:
            raise RuntimeError("gqsub printed %d ids for %d jobs" % (len(ids), n))
        # Jobs run in id order (fifo, one slot): the last one ends last.
        if not wait_until(lambda: self.ended(ids[-1]), 900, 0.002):
            raise RuntimeError("job %s did not end" % ids[-1])
        end = time.perf_counter()
        left = [i for i in ids if not self.ended(i)]
        if left:
            raise RuntimeError("jobs %s not ended although the last one is" % left[:5])
        return end - start


class Tsp(Tool):
    key, title = "tsp", "task-spooler"
    submit_text = "tsp true"
    wait_title = "tsp -w ID"

    def __init__(self, binary):
        self.bin = binary

    def open(self):
        self.box = Sandbox("tsp")
        # Read at server start: keep every result for the listing figure.
        self.box.env.update({"TS_SOCKET": self.box.path("tmp", "ts.socket"), "TS_MAXFINISHED": "100000",
                             "TS_SLOTS": "1"})
        self.box.check([self.bin, "-S", "1"])  # starts the server, so it is warm
        wait_until(self.daemon_pids, 5, 0.01)
        return self

    def stop_daemon(self):
        self.box.run([self.bin, "-K"], timeout=10)

    def daemon_pids(self):
        marker = ("GSAT_BENCH_SANDBOX=%s" % self.box.tag).encode()
        return tagged_pids([marker])

    def submit_argv(self, job, i=0):
        return [self.bin] + job.argv

    def wait_argv(self, job_id):
        return [self.bin, "-w", job_id]

    def has_wait(self):
        return True, ""

    def list_argv(self, detailed=False):
        return [self.bin, "-l"]

    def make_ended(self, n, batch=250):
        done = 0
        while done < n:
            k = min(batch, n - done)
            ids = self.submit(TRUE, k)
            self.box.check(self.wait_argv(ids[-1]), timeout=600)
            done += k
        return "run through tsp in batches of %d" % batch


class Nq(Tool):
    key, title = "nq", "nq"
    submit_text = "nq true"
    wait_title = "nq -w ID"

    def __init__(self, nq, fq):
        self.bin, self.fq = nq, fq

    def open(self):
        self.box = Sandbox("nq")
        self.dir = self.box.path("nq")
        self.box.env["NQDIR"] = self.dir
        return self

    def daemon_pids(self):
        return []

    def submit_argv(self, job, i=0):
        return [self.bin] + job.argv

    def wait_argv(self, job_id):
        return [self.bin, "-w", job_id]

    def has_wait(self):
        return True, ""

    def ready(self, ids):
        # nq prints the id before the job's file has its final name (it is
        # made as ".,ID" and renamed), and `nq -w ID` returns at once for a
        # file it cannot open; a job still hidden is also not waited for by
        # later jobs.  So wait until every file has its name.
        qdir = self.box.env["NQDIR"]
        if not wait_until(lambda: set(ids) <= set(os.listdir(qdir)), 60, 0.001):
            raise RuntimeError("nq jobs never appeared in %s" % qdir)

    def wait_all_argv(self, ids):
        return [self.bin, "-w"] + list(ids)

    def list_argv(self, detailed=False):
        # Every job's first line (its command), without following output.
        return [self.fq, "-a", "-n", "-q"]

    def make_ended(self, n, batch=250):
        # Each new nq job flocks every earlier file of its NQDIR, and queued
        # jobs all wake on every completion; batches in their own NQDIRs keep
        # that cost small.  The finished files are then moved into one queue.
        done, k = 0, 0
        os.makedirs(self.dir, exist_ok=True)
        while done < n:
            m = min(batch, n - done)
            part = self.box.path("nqgen%d" % k)
            self.box.env["NQDIR"] = part
            try:
                ids = self.submit(TRUE, m)
                self.ready(ids)
                self.box.check(self.wait_all_argv(ids), timeout=600)
            finally:
                self.box.env["NQDIR"] = self.dir
            for name in os.listdir(part):
                os.rename(os.path.join(part, name), os.path.join(self.dir, name))
            os.rmdir(part)
            done, k = done + m, k + 1
        return "run through nq in batches of %d (own NQDIR each), then moved into one NQDIR" % batch


def find_peer(names, package, install):
    """Path of the first of ``names`` on PATH, installing ``package`` if allowed."""
    for name in names:
        if shutil.which(name):
            return shutil.which(name), ""
    if not install:
        return None, "not installed (--no-install)"
    if os.geteuid() != 0:
        return None, "not installed and not root, cannot apt-get install %s" % package
    log("installing %s with apt-get" % package)
    for cmds in ([["apt-get", "install", "-y", package]],
                 [["apt-get", "update"], ["apt-get", "install", "-y", package]]):
        ok = True
        for c in cmds:
            r = subprocess.run(c, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
            ok = ok and r.returncode == 0
        if ok:
            break
    for name in names:
        if shutil.which(name):
            return shutil.which(name), ""
    return None, "apt-get install %s failed" % package
