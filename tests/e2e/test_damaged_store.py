"""Damaged jobs and huge outputs (issue 11 item 5): a job directory that
holds something other than the files the tools wrote is reported and
skipped; it never stops the controller, gqstat, gqclean or gqpeek; and
gqpeek reads a huge output from its end, in bounded memory."""

import os
import json
import subprocess
import sys

from tests.conftest import BIN


def _finished(gsat, name="done.job", body="echo one\necho two\necho three\n"):
    job_id = gsat.qsub(gsat.job(name, body))
    gsat.wait_state(job_id, "finished")
    gsat.wait_for(lambda: os.path.lexists(os.path.join(gsat.g, "gschedule", "finished", job_id + ".d")),
                  what="finished link")
    return job_id


# Runs the command from a small interpreter and prints its peak memory.
# Started straight from pytest, the command would inherit pytest's own peak:
# a child made with vfork (as subprocess makes them) shares its parent's
# memory until exec, and the kernel counts that high-water mark as the
# child's (ru_maxrss), so the figure grew with the test session.
_MEASURE = """
import os, subprocess, sys
p = subprocess.Popen(sys.argv[1:])
_, status, usage = os.wait4(p.pid, 0)
sys.stderr.write("%d %d\\n" % (os.waitstatus_to_exitcode(status), usage.ru_maxrss))
"""


def _peak_kib(gsat, argv, stdout):
    """Run ``argv``; its exit code, peak resident memory in KiB, stderr."""
    p = subprocess.run([sys.executable, "-c", _MEASURE] + argv, env=gsat.env, stdout=stdout,
                       stderr=subprocess.PIPE, cwd=gsat.jobs)
    err = p.stderr.decode()
    assert p.returncode == 0, err
    err, _, last = err.rstrip("\n").rpartition("\n")
    code, peak = last.split()
    return int(code), int(peak), err + "\n" if err else ""


def test_gqpeek_n_of_a_3_gb_output_reads_only_its_end(gsat, tmp_path):
    gsat.start()
    job_id = _finished(gsat)
    out = os.path.join(gsat.job_dir(job_id), "job.stdout")
    with open(out, "r+b") as f:
        f.truncate(3 << 30)  # sparse: 3 GB of zeros without a newline
        f.seek(0, os.SEEK_END)
        f.write(b"last but two\nlast but one\nlast\n")
    got = tmp_path / "out"
    with open(got, "wb") as sink:
        code, peak, err = _peak_kib(gsat, [os.path.join(BIN, "gqpeek"), "-n", "2", job_id], sink)
    assert (code, err) == (0, "")
    assert got.read_bytes() == b"last but one\nlast\n"
    assert peak < 64 * 1024, "gqpeek -n used %d KiB" % peak


def test_gqpeek_streams_a_huge_output_without_holding_it(gsat):
    gsat.start()
    job_id = _finished(gsat)
    out = os.path.join(gsat.job_dir(job_id), "job.stdout")
    with open(out, "r+b") as f:
        f.truncate(512 << 20)
    with open(os.devnull, "wb") as sink:
        code, peak, err = _peak_kib(gsat, [os.path.join(BIN, "gqpeek"), "-n", "1", job_id], sink)
        assert (code, err) == (0, "")  # one "line" of 512 MB: streamed
        assert peak < 64 * 1024, "gqpeek -n 1 used %d KiB" % peak
        code, peak, err = _peak_kib(gsat, [os.path.join(BIN, "gqpeek"), job_id], sink)
    assert (code, err) == (0, "")
    assert peak < 64 * 1024, "gqpeek used %d KiB" % peak


# -- damaged jobs -----------------------------------------------------------------------

def _damage(gsat, job_id, how):
    state = os.path.join(gsat.job_dir(job_id), "job.state")
    if how == "directory":
        os.unlink(state)
        os.mkdir(state)
        with open(os.path.join(state, "x"), "w") as f:
            f.write("not empty\n")
    elif how == "fifo":
        os.unlink(state)
        os.mkfifo(state)
    elif how == "garbage":
        with open(state, "wb") as f:
            f.write(b"\xff\xfe\x00garbage\x1b[2J")
    elif how == "fifo-name":
        name = os.path.join(gsat.job_dir(job_id), "job.name")
        os.unlink(name)
        os.mkfifo(name)
    elif how == "dangling":
        # A finished link whose job directory is gone.
        os.rename(gsat.job_dir(job_id), os.path.join(gsat.tmp, "gone"))


DAMAGES = ("directory", "fifo", "garbage", "fifo-name", "dangling")


def _store_with_damage(gsat):
    gsat.start()
    ids = {how: _finished(gsat, "%s.job" % how) for how in DAMAGES}
    sound = _finished(gsat, "sound.job")
    gsat.stop()
    for how, job_id in ids.items():
        _damage(gsat, job_id, how)
    return ids, sound


def test_damaged_jobs_are_reported_and_skipped_by_gqstat_gqclean_and_gqpeek(gsat):
    ids, sound = _store_with_damage(gsat)
    # The table shows no job.name (it shows the job file's name), so a FIFO
    # in its place matters only to -f and --json.
    in_state = sorted(ids[h] for h in ("directory", "fifo", "garbage"))
    damaged = sorted(in_state + [ids["fifo-name"]])
    p = gsat.run("gqstat", timeout=20)
    assert p.returncode == 0, p.stderr
    assert sound in p.stdout
    for job_id in in_state:
        assert job_id not in p.stdout
    reported = sorted(line.split()[2] for line in p.stderr.splitlines())
    assert reported == in_state, p.stderr
    assert all("is damaged" in line for line in p.stderr.splitlines())

    p = gsat.run("gqstat", "--json", timeout=20)
    assert p.returncode == 0
    assert [r["id"] for r in json.loads(p.stdout)] == [sound]
    assert sorted(line.split()[2] for line in p.stderr.splitlines()) == damaged

    p = gsat.run("gqstat", "-f", ids["directory"], timeout=20)
    assert (p.returncode, p.stdout) == (1, "")
    assert p.stderr.splitlines() == ["gqstat: job %s is damaged (job.state: a directory); skipped"
                                     % ids["directory"]]

    p = gsat.run("gqstat", "-s", "finished", timeout=20)
    assert p.returncode == 0
    assert ids["dangling"] in p.stderr  # its finished link names no job

    p = gsat.run("gqpeek", ids["directory"], timeout=20)
    assert (p.returncode, p.stdout, p.stderr) == (0, "one\ntwo\nthree\n", "")

    p = gsat.run("gqclean", timeout=20)  # no controller: removes directly
    assert p.returncode == 0, p.stderr
    assert not os.path.exists(gsat.job_dir(sound))
    for job_id in in_state:
        assert os.path.isdir(gsat.job_dir(job_id))
    assert sorted(line.split()[2] for line in p.stderr.splitlines()) == sorted(in_state + [ids["dangling"]])
    # fifo-name's job.state is sound: gqclean removes it like any ended job
    assert not os.path.exists(gsat.job_dir(ids["fifo-name"]))


def test_directory_named_job_state_does_not_stop_the_controller(gsat):
    ids, sound = _store_with_damage(gsat)
    gsat.start()
    job_id = _finished(gsat, "after.job")
    assert gsat.state(sound) == "finished"
    log = open(os.path.join(gsat.g, "var", "log", "gsatlc.log")).read()
    assert "%s: damaged (job.state:" % ids["directory"] in log
    p = gsat.run("gqdel", ids["directory"])  # the way out: delete it
    assert p.returncode == 0, p.stderr
    assert not os.path.exists(gsat.job_dir(ids["directory"]))
    assert gsat.run("gqstat").returncode == 0
    assert job_id


def test_job_damaged_while_queued_is_put_aside_and_the_queue_goes_on(gsat):
    gsat.start()
    go = os.path.join(gsat.tmp, "go")
    first = gsat.qsub(gsat.job("first.job", "while [ ! -e %s ]; do sleep 0.05; done\n" % go))
    gsat.wait_state(first, "running")
    second = gsat.qsub(gsat.job("second.job", "true\n"))
    assert gsat.state(second) == "queued"
    _damage(gsat, second, "directory")
    open(go, "w").close()
    gsat.wait_state(first, "finished")
    third = gsat.qsub(gsat.job("third.job", "true\n"))
    gsat.wait_state(third, "finished")
    log = open(os.path.join(gsat.g, "var", "log", "gsatlc.log")).read()
    assert "job %s is damaged" % second in log
    pid = gsat.controller_pid()
    os.kill(pid, 0)
