"""Small-file stage in / out end to end (FEATURES.md §7, docs/staging.md),
with the real gqsub, controller and sputniks.

* ``gqsub -i FILE[:NAME]`` / ``#GSAT -i`` put the exact bytes into the job's
  working directory; ``-O FILE[:DEST]`` / ``#GSAT -O`` copy results out when
  the job has ended for good, before gqwait returns; DEST defaults to the
  directory gqsub ran in, an existing DEST is kept (the copy is DEST.1).
* Limits at both ends, at submission (refused, one line, exit 1, nothing
  queued, no id used, no upload left) and at the end (not copied, kept, told).
* Every refusal at submission: missing, directory, bad NAME, duplicate NAME,
  the script's own name, bad stage-out FILE, bad directive.
* Restarts (a gtransfer temp-fail, gqhold/gqrls) find the inputs as they
  were submitted, and stage-out happens once, at the very end.
* Stage-out into a read-only destination, of a symbolic link out of the
  working directory, of a missing file: the job's file stays, the failure
  is in ``gqstat -f -x`` and ``--json``, the job's stderr, the event
  STAGE_OUT_FAILED (a real service records its environment) and, for
  ``-m a``, a mail through a real SMTP server.
"""

import json
import os
import shlex
import subprocess
import sys

import pytest

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, TESTS)

import smtp_server  # noqa: E402

ENDED = ("finished", "failed")


def _read(path, mode="r"):
    with open(path, mode) as f:
        return f.read()


def _write(path, data):
    with open(path, "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)
    return str(path)


def _workdir(gsat, job_id):
    return os.path.join(gsat.job_dir(job_id), "jobtmp")


def _spool(gsat):
    d = os.path.join(gsat.g, "var", "spool", "stagein")
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def _store(gsat):
    """What a refused submission must leave unchanged."""
    jobs = os.path.join(gsat.g, "gschedule", "jobs")
    return _read(os.path.join(gsat.g, "gschedule", "nextJobId")), sorted(os.listdir(jobs)), _spool(gsat)


def _env0(path):
    env = {}
    for entry in _read(path, "rb").split(b"\0"):
        if entry:
            name, _, value = entry.decode("utf-8", "surrogateescape").partition("=")
            env[name] = value
    return env


@pytest.fixture
def read_only_dir(tmp_path):
    """A directory nobody may write into, root included: a read-only tmpfs
    as root, else mode 0555."""
    path = str(tmp_path / "ro")
    os.makedirs(path)
    mounted = False
    if os.geteuid() == 0:
        p = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", path], capture_output=True, text=True)
        if p.returncode != 0:
            pytest.skip("cannot mount a read-only tmpfs here: %s" % p.stderr.strip())
        mounted = True
    else:
        os.chmod(path, 0o555)
    try:
        yield path
    finally:
        if mounted:
            subprocess.run(["umount", "-l", path], capture_output=True)
        else:
            os.chmod(path, 0o755)


# -- content, both ways ------------------------------------------------------------------------

def test_exact_content_both_ways(gsat):
    binary = bytes(range(256)) * 64 + b"\n\0no final newline"
    text = "zwei Zeilen ü\nline 2 without newline"
    a_file = _write(gsat.tmp / "binary.in", binary)
    sub = gsat.tmp / "scripts"
    sub.mkdir()
    _write(sub / "text.in", text)
    rundir = gsat.tmp / "run"
    rundir.mkdir()
    gsat.start()
    job = _write(sub / "both.job", (
        "#!/bin/bash\n"
        "#GSAT -i text.in:config.txt\n"
        "#GSAT -O result.bin\n"
        "#GSAT -O out/second.txt:copies/\n"
        "cat data.bin > result.bin\n"
        "mkdir -p out && cp config.txt out/second.txt\n"))
    os.chmod(job, 0o755)
    (sub / "copies").mkdir()
    # The option -i replaces the script's -i list; -O from the script stays.
    p = gsat.run("gqsub", "-i", "%s:data.bin" % a_file, "--stage-in", "scripts/text.in:config.txt", job,
                 cwd=str(gsat.tmp), check=True)
    a = p.stdout.strip()
    assert p.stderr == ""
    p = gsat.run("gqwait", a, cwd=str(rundir))
    assert p.returncode == 0, p.stderr
    # gqwait returned: the copies are in place.  Without DEST: where gqsub ran.
    assert _read(gsat.tmp / "result.bin", "rb") == binary
    # DEST relative in a directive: from the script's directory.
    assert _read(sub / "copies" / "second.txt") == text
    assert _read(os.path.join(_workdir(gsat, a), "data.bin"), "rb") == binary
    assert gsat.attr(a, "job.stageIn").split("\n") == ["config.txt", "data.bin"]
    assert gsat.attr(a, "job.stagedOut").split("\n") == [
        "result.bin -> %s/result.bin" % gsat.tmp, "out/second.txt -> %s/copies/second.txt" % sub]
    assert not os.path.exists(os.path.join(gsat.job_dir(a), "job.stageOutError"))
    assert _spool(gsat) == []
    # Once more: the first copies are kept, the new ones get a number.
    b = gsat.run("gqsub", "-i", "%s:data.bin" % a_file, "-i", "scripts/text.in:config.txt", job,
                 cwd=str(gsat.tmp), check=True).stdout.strip()
    assert gsat.run("gqwait", b).returncode == 0
    assert _read(gsat.tmp / "result.bin.1", "rb") == binary
    assert _read(sub / "copies" / "second.txt.1") == text
    assert sorted(os.listdir(sub / "copies")) == ["second.txt", "second.txt.1"]


# -- limits ---------------------------------------------------------------------------------------

def test_limits_at_submission(gsat):
    gsat.start(stage_limit=1000, stage_job_limit=1500)
    exact = _write(gsat.tmp / "exact", b"e" * 1000)
    over = _write(gsat.tmp / "over", b"o" * 1001)
    half = _write(gsat.tmp / "half", b"h" * 500)
    job = gsat.job("lim.job", "wc -c < exact > size\n#\n")
    a = gsat.run("gqsub", "-i", exact, "-i", half, job, check=True).stdout.strip()
    assert gsat.wait_state(a, ENDED) == "finished"
    assert _read(os.path.join(_workdir(gsat, a), "size")).strip() == "1000"
    before = _store(gsat)
    p = gsat.run("gqsub", "-i", over, job)
    assert (p.returncode, p.stdout) == (1, "")
    assert p.stderr == 'gqsub: %s: stage-in file "%s" is 1001 bytes, more than stage_limit (1000); ' \
                       "nothing submitted.\n" % (job, over)
    p = gsat.run("gqsub", "-i", exact, "-i", half, "-i", _write(gsat.tmp / "one", b"1"), job)
    assert p.returncode == 1 and p.stderr.count("\n") == 1
    assert "more than stage_job_limit (1500 bytes) together; nothing submitted." in p.stderr
    assert _store(gsat) == before


def test_limits_at_stage_out(gsat):
    gsat.start(stage_limit=1000, stage_job_limit=1800)
    dest = gsat.tmp / "dest"
    dest.mkdir()
    job = gsat.job("out.job", (
        "head -c 1000 /dev/zero > exact\n"
        "head -c 1001 /dev/zero > over\n"
        "head -c 900 /dev/zero > fills_job\n"))
    a = gsat.run("gqsub", "-O", "exact:dest/", "-O", "over:dest/", "-O", "fills_job:dest/", job,
                 cwd=str(gsat.tmp), check=True).stdout.strip()
    assert gsat.wait_state(a, ENDED) == "finished"
    assert os.listdir(dest) == ["exact"] and os.path.getsize(dest / "exact") == 1000
    work = _workdir(gsat, a)
    errors = gsat.attr(a, "job.stageOutError").split("\n")
    assert errors == [
        "stage-out of over to %s/ failed: 1001 bytes, more than stage_limit (1000); the file stays in %s" % (dest, work),
        "stage-out of fills_job to %s/ failed: 900 bytes, more than is left of stage_job_limit (800); "
        "the file stays in %s" % (dest, work)]
    assert os.path.getsize(os.path.join(work, "over")) == 1001
    assert os.path.getsize(os.path.join(work, "fills_job")) == 900


# -- refusals at submission ------------------------------------------------------------------------

REFUSED = [
    (["-i", "missing.txt"], 'stage-in file "{tmp}/missing.txt" not existing'),
    (["-i", "adir"], 'stage-in file "{tmp}/adir" is a directory'),
    (["-i", "in.txt:../escape"], "invalid stage-in name '../escape'"),
    (["-i", "in.txt:sub/name"], "invalid stage-in name 'sub/name'"),
    (["-i", "in.txt:"], "invalid stage-in name ''"),
    (["-i", "in.txt:.."], "invalid stage-in name '..'"),
    (["-i", "in.txt:evil\x1b[2Jname"], "invalid stage-in name 'evil\\x1b[2Jname'"),
    (["-i", "in.txt:x", "-i", "in.txt:x"], 'stage-in name "x" given twice'),
    (["-i", "in.txt:plain.job"], 'stage-in name "plain.job" is the job script\'s own name'),
    (["-N", "named", "-i", "in.txt:named"], 'stage-in name "named" is the job script\'s own name'),
    (["-O", "../up"], "invalid stage-out file '../up'"),
    (["-O", "/etc/passwd"], "invalid stage-out file '/etc/passwd'"),
    (["-O", "a/../../b"], "invalid stage-out file 'a/../../b'"),
    (["-O", "res:"], "invalid stage-out destination ''"),
]


@pytest.mark.parametrize("args,message", REFUSED)
def test_refused_at_submission(gsat, args, message):
    _write(gsat.tmp / "in.txt", "in\n")
    (gsat.tmp / "adir").mkdir()
    gsat.start()
    job = gsat.job("plain.job", "true\n")
    # A first job, so that the store and the spool are in use.
    gsat.wait_state(gsat.qsub(job), ENDED)
    before = _store(gsat)
    p = gsat.run("gqsub", *(args + [job]), cwd=str(gsat.tmp))
    assert (p.returncode, p.stdout, p.stderr.count("\n")) == (1, "", 1), p.stderr
    assert p.stderr.startswith("gqsub: ") and message.format(tmp=gsat.tmp) in p.stderr, p.stderr
    assert p.stderr.endswith("; nothing submitted.\n")
    assert _store(gsat) == before


@pytest.mark.parametrize("directive,message", [
    ("#GSAT -i missing.txt", 'stage-in file "{jobs}/missing.txt" not existing'),
    ("#GSAT -i in.txt:../../x", "invalid stage-in name '../../x'"),
    ("#GSAT -O ../../x", "invalid stage-out file '../../x'"),
])
def test_refused_directives(gsat, directive, message):
    _write(os.path.join(gsat.jobs, "in.txt"), "in\n")
    gsat.start()
    # A script that is otherwise classic: a bad -i/-O is refused all the same.
    job = gsat.job("d.job", "#GSAT -o out\n%s\ntrue\n" % directive)
    before = _store(gsat)
    p = gsat.run("gqsub", job)
    assert (p.returncode, p.stdout, p.stderr.count("\n")) == (1, "", 1), p.stderr
    assert message.format(jobs=gsat.jobs) in p.stderr and "nothing submitted" in p.stderr
    assert _store(gsat) == before


# -- restarts -------------------------------------------------------------------------------------------

def test_gtransfer_restart_finds_its_inputs(gsat):
    batch = _write(gsat.tmp / "batch.tgftp", "original batch\n")
    gsat.start()
    job = gsat.job("gt.job", (
        "#GSAT -T gtransfer\n"
        "cat batch >> seen\n"
        "if [ ! -e first.done ]; then touch first.done; echo spoiled > batch; exit 75; fi\n"))
    a = gsat.run("gqsub", "-i", "%s:batch" % batch, "-O", "seen", job, cwd=str(gsat.tmp), check=True).stdout.strip()
    assert gsat.run("gqwait", a).returncode == 0
    assert gsat.attr(a, "job.restarts") == "1"
    assert _read(gsat.tmp / "seen") == "original batch\noriginal batch\n"
    # Staged out once, at the end, not after the run that was restarted.
    assert not os.path.exists(gsat.tmp / "seen.1")
    assert gsat.attr(a, "job.stagedOut") == "seen -> %s/seen" % gsat.tmp


def test_hold_and_release_finds_its_inputs(gsat):
    data = _write(gsat.tmp / "data", "as submitted\n")
    gsat.start()
    job = gsat.job("h.job", (
        "cat data >> seen\n"
        "if [ ! -e first.done ]; then touch first.done; echo spoiled > data; touch ready; sleep 60; fi\n"))
    a = gsat.run("gqsub", "-i", data, "-O", "seen", job, cwd=str(gsat.tmp), check=True).stdout.strip()
    ready = os.path.join(_workdir(gsat, a), "ready")
    gsat.wait_for(lambda: os.path.exists(ready), what="first run")
    gsat.run("gqhold", a, check=True)
    assert gsat.state(a) == "held"
    assert not os.path.exists(gsat.tmp / "seen")  # held is no end
    gsat.run("gqrls", a, check=True)
    assert gsat.run("gqwait", a).returncode == 0
    assert _read(gsat.tmp / "seen") == "as submitted\nas submitted\n"


# -- failures at the end --------------------------------------------------------------------------------

def test_read_only_destination_keeps_the_file(gsat, read_only_dir):
    gsat.start()
    job = gsat.job("ro.job", "printf 'result\\n' > r\n")
    a = gsat.run("gqsub", "-O", "r:%s/r" % read_only_dir, job, check=True).stdout.strip()
    assert gsat.run("gqwait", a).returncode == 0
    assert gsat.state(a) == "finished"
    work = _workdir(gsat, a)
    assert _read(os.path.join(work, "r")) == "result\n"
    assert os.listdir(read_only_dir) == []
    [error] = gsat.attr(a, "job.stageOutError").split("\n")
    assert error.startswith("stage-out of r to %s/r failed: %s: " % (read_only_dir, read_only_dir))
    assert error.endswith("; the file stays in %s" % work)
    assert "sputnik: " + error in gsat.attr(a, "job.stderr").split("\n")
    shown = gsat.run("gqstat", "-f", "-x", a, check=True).stdout
    assert 'job.stageOutError="%s"' % error in shown.splitlines()
    assert 'job.stageOut="r -> %s/r"' % read_only_dir in shown.splitlines()
    [record] = [r for r in json.loads(gsat.run("gqstat", "--json", check=True).stdout) if r["id"] == a]
    assert record["stage_out_error"] == error
    assert record["staged_out"] is None


def test_symbolic_links_out_of_the_working_directory_are_not_followed(gsat):
    secret = _write(gsat.tmp / "id_rsa", "PRIVATE KEY\n")
    outside = gsat.tmp / "outside"
    outside.mkdir()
    _write(outside / "f", "outside\n")
    dest = gsat.tmp / "dest"
    dest.mkdir()
    gsat.start()
    job = gsat.job("ln.job", "ln -s %s key\nln -s %s dir\n" % (shlex.quote(secret), shlex.quote(str(outside))))
    a = gsat.run("gqsub", "-O", "key:%s/" % dest, "-O", "dir/f:%s/" % dest, job, check=True).stdout.strip()
    assert gsat.run("gqwait", a).returncode == 0
    assert os.listdir(dest) == []
    errors = gsat.attr(a, "job.stageOutError")
    assert "key is a symbolic link, which is not followed" in errors
    assert "dir is a symbolic link, which is not followed" in errors


def test_stage_out_failed_event_service_and_mail(gsat):
    out = str(gsat.tmp / "out")
    os.makedirs(out)
    gsat.service("STAGE_OUT_FAILED", "record", 'env -0 > %s/env.tmp && mv %s/env.tmp %s/env\n' % ((shlex.quote(out),) * 3))
    smtp = smtp_server.SmtpServer().start()
    try:
        gsat.start(smtp_host=smtp_server.HOST, smtp_port=smtp.port, mail_from="gsat@test.invalid")
        job = gsat.job("f.job", "#GSAT -m a\n#GSAT -M x@example.org\necho ok > here\nexit 0\n")
        a = gsat.run("gqsub", "-O", "here", "-O", "not here:%s/x" % out, job, cwd=str(gsat.tmp), check=True).stdout.strip()
        assert gsat.run("gqwait", a).returncode == 0
        assert gsat.state(a) == "finished"  # the job's own exit value decides
        assert _read(gsat.tmp / "here") == "ok\n"
        work = _workdir(gsat, a)
        line = "stage-out of not here to %s/x failed: missing; the file stays in %s" % (out, work)
        assert gsat.attr(a, "job.stageOutError") == line
        gsat.wait_for(lambda: os.path.exists(os.path.join(out, "env")), what="STAGE_OUT_FAILED service")
        env = _env0(os.path.join(out, "env"))
        assert env["GSAT_EVENT"] == "STAGE_OUT_FAILED"
        assert env["GSAT_O_JOBID"] == a
        assert env["GSAT_STAGE_OUT_FAILED"] == "not here"
        assert env["GSAT_REASON"] == line
        assert env["GSAT_STAGE_OUT_DIR"] == work
        smtp.wait_count(1)
        [mail] = smtp.received()
        assert mail["message"]["Subject"] == "[GSAT] %s => STAGE_OUT_FAILED" % a
        assert mail["to"] == ["x@example.org"]
        assert "Reason: %s" % line in mail["message"].get_body(("plain",)).get_content().splitlines()
    finally:
        smtp.stop()


def test_no_event_when_everything_was_copied(gsat):
    out = str(gsat.tmp / "out")
    os.makedirs(out)
    gsat.service("STAGE_OUT_FAILED", "record", 'touch %s/ran."$GSAT_O_JOBID"\n' % shlex.quote(out))
    gsat.start()
    a = gsat.run("gqsub", "-O", "r", gsat.job("ok.job", "echo > r\n"), check=True).stdout.strip()
    assert gsat.run("gqwait", a).returncode == 0
    # A later job whose stage-out fails: its service runs; the first job's
    # event, had there been one, came before it.
    b = gsat.run("gqsub", "-O", "nothing", gsat.job("bad.job", "true\n"), check=True).stdout.strip()
    gsat.wait_for(lambda: os.path.exists(os.path.join(out, "ran." + b)), what="STAGE_OUT_FAILED service")
    assert os.listdir(out) == ["ran." + b]
    assert not os.path.exists(os.path.join(gsat.job_dir(a), "job.stageOutError"))
