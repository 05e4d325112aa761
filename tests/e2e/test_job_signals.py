"""A job starts with every signal at its default disposition, whatever the
controller's starter ignored (nohup, a shell's ``trap ''``): exec keeps an
ignored signal ignored, so the sputnik has to set each one."""

import signal

# SIGUSR2 (12), SIGALRM (14), SIGTTOU (22) and SIGWINCH (28): ignored by
# the shell that starts the controller (which handles SIGHUP itself).
IGNORED = "USR2 ALRM TTOU WINCH"


def _mask(text, field):
    for line in text.splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1], 16)
    raise AssertionError("no %s line in %r" % (field, text))


def test_a_job_starts_with_no_signal_ignored(gsat):
    gsat.run("sh", "-c", "trap '' %s; exec gsatlcd --start" % IGNORED, check=True)
    # The controller did inherit them: else the test could not fail.
    with open("/proc/%d/status" % gsat.controller_pid()) as f:
        ignored_by_controller = _mask(f.read(), "SigIgn")
    for signo in (12, 14, 22, 28):
        assert ignored_by_controller & (1 << (signo - 1)), hex(ignored_by_controller)
    job = gsat.job("sigs.sh", "exec grep -E '^Sig(Ign|Blk)' /proc/self/status\n", shebang="#!/bin/sh\n")
    job_id = gsat.qsub(job)
    assert gsat.wait_state(job_id, ("finished", "failed")) == "finished"
    out = gsat.attr(job_id, "job.stdout")
    # glibc's posix_spawn leaves its two internal signals (32 and 33, below
    # SIGRTMIN) ignored; no program can use them.
    internal = (1 << 31) | (1 << 32)
    assert signal.SIGRTMIN > 33
    assert _mask(out, "SigIgn") & ~internal == 0, out
    assert _mask(out, "SigBlk") == 0, out
