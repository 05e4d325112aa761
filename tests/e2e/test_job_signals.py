"""Every signal at its default disposition and none blocked: in a job, in a
service, and in a controller that ``gsatlcd`` starts, whatever whoever
started them ignored (nohup, a shell's ``trap ''``).  exec keeps an ignored
signal ignored, so each one has to be set back."""

import os
import signal
import subprocess

# SIGUSR2 (12), SIGALRM (14), SIGTTOU (22) and SIGWINCH (28): ignored by
# the shell that starts the controller (which handles SIGHUP itself).
IGNORED = "USR2 ALRM TTOU WINCH"
NUMBERS = (12, 14, 22, 28)
# glibc's posix_spawn leaves its two internal signals (32 and 33, below
# SIGRTMIN) ignored; no program can use them.
INTERNAL = (1 << 31) | (1 << 32)
# Python ignores these two in every process of its own.
PYTHON = (1 << (signal.SIGPIPE - 1)) | (1 << (signal.SIGXFSZ - 1))


def _mask(text, field):
    for line in text.splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1], 16)
    raise AssertionError("no %s line in %r" % (field, text))


def _ignored_by(pid):
    with open("/proc/%d/status" % pid) as f:
        return _mask(f.read(), "SigIgn")


def test_gsatlcd_starts_the_controller_with_no_signal_ignored(gsat):
    gsat.run("sh", "-c", "trap '' %s; exec gsatlcd --start" % IGNORED, check=True)
    # glibc's internal signals may come ignored from any posix_spawn
    # before us (make spawns so): nothing can set them back, nor use them.
    assert _ignored_by(gsat.controller_pid()) & ~(PYTHON | INTERNAL) == 0


def test_jobs_and_services_start_with_no_signal_ignored(gsat):
    # The controller run directly (not through gsatlcd) by a shell that
    # ignores signals: it inherits them, so the test can fail.
    log = open(os.path.join(str(gsat.tmp), "gsatlc.out"), "w")
    p = subprocess.Popen(["sh", "-c", "trap '' %s; exec gsatlc" % IGNORED], env=gsat.env,
                         stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
    log.close()
    gsat.extra_pids.append(p.pid)
    gsat.wait_for(lambda: gsat.controller_pid() == p.pid, what="the controller")
    gsat.wait_for(lambda: gsat.run("sendcmd", "-c", "ALIVE?", "-m", gsat.controller_box()).stdout.strip() == "YES",
                  what="the controller to answer")
    inherited = _ignored_by(p.pid)
    for signo in NUMBERS:
        assert inherited & (1 << (signo - 1)), hex(inherited)
    seen = os.path.join(str(gsat.tmp), "service.sigs")
    gsat.service("JOB_TERMINATION", "sigs",
                 "grep -E '^Sig(Ign|Blk)' /proc/self/status > %s.tmp && mv %s.tmp %s\n" % (seen, seen, seen))
    job = gsat.job("sigs.sh", "exec grep -E '^Sig(Ign|Blk)' /proc/self/status\n", shebang="#!/bin/sh\n")
    job_id = gsat.qsub(job)
    assert gsat.wait_state(job_id, ("finished", "failed")) == "finished"
    assert signal.SIGRTMIN > 33
    out = gsat.attr(job_id, "job.stdout")
    assert _mask(out, "SigIgn") & ~INTERNAL == 0, out
    assert _mask(out, "SigBlk") == 0, out
    gsat.wait_for(lambda: os.path.exists(seen), what="the service's record")
    with open(seen) as f:
        out = f.read()
    # run-services (bash) starts each service with `&`, and bash without
    # job control has an asynchronous command ignore SIGINT and SIGQUIT.
    background = (1 << (signal.SIGINT - 1)) | (1 << (signal.SIGQUIT - 1))
    assert _mask(out, "SigIgn") & ~(INTERNAL | background) == 0, out
    assert _mask(out, "SigBlk") == 0, out
