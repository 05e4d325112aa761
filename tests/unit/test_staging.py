"""Small-file stage in/out (FEATURES.md §7, docs/staging.md): the values of
``-i FILE[:NAME]`` and ``-O FILE[:DEST]``, the checks gqsub makes before
anything is written, the spool hand-over to the controller, the placing of
inputs at every start, and the stage-out copy: never outside the working
directory, never replacing a file, never beyond the limits, never lost.

Real files in a temporary $HOME; the e2e tests (tests/e2e/test_staging.py)
run the same through gqsub, the controller and a sputnik.
"""

import errno
import os
import stat

import pytest

from gsatellite import config, directives, paths, staging
from gsatellite.cli import gsatctl
from gsatellite.staging import StageError

MiB = 1 << 20


# -- values ----------------------------------------------------------------------------------

def test_stage_in_value(tmp_path):
    base = str(tmp_path)
    assert staging.parse_in("in.txt", base) == (os.path.join(base, "in.txt"), "in.txt")
    assert staging.parse_in("in.txt:data", base) == (os.path.join(base, "in.txt"), "data")
    assert staging.parse_in("/abs/a:b:c", base) == ("/abs/a:b", "c")
    assert staging.parse_in("../up/x", base) == (os.path.join(os.path.dirname(base), "up", "x"), "x")
    home = os.path.expanduser("~")
    assert staging.parse_in("~/f:g", base) == (os.path.join(home, "f"), "g")


@pytest.mark.parametrize("value", [
    "in.txt:", "in.txt:../x", "in.txt:a/b", "in.txt:.", "in.txt:..", "in.txt:x\ny", "in.txt:tab\tname",
    "in.txt:esc\x1b[2J", "in.txt:" + "n" * 256, ":name", "a;b", "/",
])
def test_stage_in_bad_values(tmp_path, value):
    with pytest.raises(StageError):
        staging.parse_in(value, str(tmp_path))


def test_stage_out_value(tmp_path):
    base = str(tmp_path)
    assert staging.parse_out("res.txt", base) == ("res.txt", None)
    assert staging.parse_out("./out//sub/res.txt", base) == ("out/sub/res.txt", None)
    assert staging.parse_out("res.txt:copy", base) == ("res.txt", os.path.join(base, "copy"))
    assert staging.parse_out("res.txt:/d/x:y", base) == ("res.txt", "/d/x:y")
    assert staging.parse_out("res.txt:dir/", base) == ("res.txt", os.path.join(base, "dir") + "/")
    # Without DEST: the directory gqsub ran in, FILE's base name.
    assert staging.requests(["out/res.txt", "a:/x/b"], "/run/here") == [
        ("out/res.txt", "/run/here/res.txt"), ("a", "/x/b")]


@pytest.mark.parametrize("value", [
    "../res", "a/../../res", "/etc/passwd", "", ".", "./", "res:", "x\ny", "nul\0", "a;b:c",
])
def test_stage_out_bad_values(tmp_path, value):
    with pytest.raises(StageError):
        staging.parse_out(value, str(tmp_path))


def test_requests_round_trip():
    pairs = [("a b", "/x y/a b"), ("out/r", "/d/r:1")]
    assert staging.decode_requests(staging.encode_requests(pairs)) == pairs
    # Lines that are no request (a damaged file) are left out, not trusted.
    assert staging.decode_requests("../x\t/a\nrel\trelative\nok\t/fine\nnotab") == [("ok", "/fine")]


# -- directives and gqsub's options ------------------------------------------------------------

def test_directives_repeat_and_options_replace(tmp_path):
    (tmp_path / "a").write_text("a")
    script = tmp_path / "job"
    script.write_text("#!/bin/bash\n#GSAT -i a\n#GSAT -i a:b\n#GSAT -O r1\n#GSAT -O r2:sub/\ntrue\n")
    found = directives.scan(str(script))
    opts = directives.options(found, str(tmp_path))
    assert opts["-i"] == ["%s/a:a" % tmp_path, "%s/a:b" % tmp_path]
    assert opts["-O"] == ["r1", "r2:%s/sub/" % tmp_path]
    # gqsub's list replaces the script's, as any option overrides its directive.
    opts = directives.options(found, str(tmp_path), {"-i": ["/x:y"]})
    assert opts["-i"] == ["/x:y"] and opts["-O"] == ["r1", "r2:%s/sub/" % tmp_path]


def test_bad_stage_directive_is_refused_even_in_a_classic_script(tmp_path):
    script = tmp_path / "job"
    script.write_text("#!/bin/bash\n#GSAT -o out\n#GSAT -i in:../escape\ntrue\n")
    with pytest.raises(directives.DirectiveError, match="invalid stage-in name"):
        directives.options(directives.scan(str(script)), str(tmp_path))


def test_stage_options_travel_in_one_request():
    opts = {"-N": "n", "-O": ["a b:/x y/z", "c:/d;"], "-i": ["123.tok"]}
    text = directives.encode(opts)
    assert ";" not in text and "\n" not in text
    assert directives.decode(text) == opts


def test_gqsub_stage_options():
    overrides, files = gsatctl.split_qsub_args("gqsub", [
        "-i", "a", "--stage-in", "b:c", "--stage-in=d", "-O", "r", "--stage-out=s:t", "-N", "n", "job"])
    assert overrides == {"-i": ["a", "b:c", "d"], "-O": ["r", "s:t"], "-N": "n"}
    assert files == ["job"]


# -- gqsub's checks: before anything is written -------------------------------------------------

def _file(path, size):
    with open(path, "wb") as f:
        f.write(b"x" * size)
    return str(path)


def test_inputs_at_both_limits(tmp_path):
    exact = _file(tmp_path / "exact", 1000)
    over = _file(tmp_path / "over", 1001)
    assert staging.check_inputs([(exact, "e")], "job", 1000, 1000)
    with pytest.raises(StageError, match=r'"%s" is 1001 bytes, more than stage_limit \(1000\)' % over):
        staging.check_inputs([(over, "o")], "job", 1000, 5000)
    two = [(exact, "e1"), (_file(tmp_path / "more", 1000), "e2")]
    assert staging.check_inputs(two, "job", 1000, 2000)
    with pytest.raises(StageError, match=r"more than stage_job_limit \(1999 bytes\)"):
        staging.check_inputs(two, "job", 1000, 1999)


def test_inputs_refused(tmp_path):
    ok = _file(tmp_path / "ok", 3)
    fifo = str(tmp_path / "fifo")
    os.mkfifo(fifo)
    cases = [
        ([(str(tmp_path / "missing"), "m")], "not existing"),
        ([(str(tmp_path), "d")], "is a directory"),
        ([(fifo, "f")], "is not a regular file"),
        ([(ok, "job")], "job script's own name"),
        ([(ok, "x"), (ok, "x")], "given twice"),
        ([(ok, "a/b")], "invalid stage-in name"),
    ]
    for entries, message in cases:
        with pytest.raises(StageError, match=message):
            staging.check_inputs(entries, "job", 100, 100)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_input_refused(tmp_path):
    secret = _file(tmp_path / "secret", 3)
    os.chmod(secret, 0)
    with pytest.raises(StageError, match="is not readable"):
        staging.check_inputs([(secret, "s")], "job", 100, 100)


# -- the spool: gqsub -> controller -------------------------------------------------------------

def _staging_dir(job_id):
    os.makedirs(paths.job_staging_dir(job_id))


def test_upload_and_receive(home):
    src = home / "in.bin"
    data = bytes(range(256)) * 4
    src.write_bytes(data)
    token = staging.upload([(str(src), "data"), (str(src), "copy")], 2048, 2048)
    assert staging.valid_token(token)
    spool = paths.stage_spool_dir()
    assert os.listdir(spool) == [token]  # no hidden part left
    _staging_dir("00001")
    assert staging.receive(token, "00001", "job", 2048, 2048) == ["copy", "data"]
    kept = paths.job_stagein_dir("00001", staging=True)
    with open(os.path.join(kept, "data"), "rb") as f:
        assert f.read() == data
    assert os.listdir(spool) == []
    # Taken once: a second QSUB naming it finds nothing.
    _staging_dir("00002")
    with pytest.raises(StageError, match="not taken"):
        staging.receive(token, "00002", "job", 2048, 2048)


def test_upload_that_grew_leaves_nothing(home):
    src = home / "grows"
    src.write_bytes(b"x" * 10)
    with pytest.raises(StageError, match="grew beyond 5 bytes"):
        staging.upload([(str(src), "g")], 5, 100)
    assert os.listdir(paths.stage_spool_dir()) == []


@pytest.mark.parametrize("token", ["../../etc", ".hidden", "", "a/b", "x" * 65])
def test_receive_refuses_hostile_tokens(home, token):
    _staging_dir("00001")
    with pytest.raises(StageError, match="invalid stage-in token"):
        staging.receive(token, "00001", "job", 10, 10)


def test_receive_checks_what_it_took(home):
    spool = paths.stage_spool_dir()
    os.makedirs(os.path.join(spool, "1.tok"))
    os.symlink("/etc/passwd", os.path.join(spool, "1.tok", "link"))
    _staging_dir("00001")
    with pytest.raises(StageError, match="not a regular file"):
        staging.receive("1.tok", "00001", "job", 10 ** 6, 10 ** 6)
    os.makedirs(os.path.join(spool, "2.tok"))
    _file(os.path.join(spool, "2.tok", "job"), 1)
    _staging_dir("00002")
    with pytest.raises(StageError, match="job script's name"):
        staging.receive("2.tok", "00002", "job", 10, 10)


def test_stale_uploads_are_cleaned(home):
    spool = paths.stage_spool_dir()
    for name in ("old", ".old.part", "new"):
        os.makedirs(os.path.join(spool, name))
    past = 1e9
    for name in ("old", ".old.part"):
        os.utime(os.path.join(spool, name), (past, past))
    assert staging.clean_spool(past + staging.STALE_SPOOL + 1) == 2
    assert os.listdir(spool) == ["new"]


# -- every start -------------------------------------------------------------------------------

def test_inputs_placed_anew_at_every_start(home):
    job_id = "00003"
    os.makedirs(paths.job_tmp_dir(job_id))
    os.makedirs(paths.job_stagein_dir(job_id))
    with open(os.path.join(paths.job_stagein_dir(job_id), "data"), "w") as f:
        f.write("original\n")
    assert staging.prepare_run(job_id) == ["data"]
    placed = os.path.join(paths.job_tmp_dir(job_id), "data")
    with open(placed, "w") as f:
        f.write("changed by the first run\n")
    with open(paths.job_file(job_id, staging.DONE), "w"):
        pass
    staging.prepare_run(job_id)
    with open(placed) as f:
        assert f.read() == "original\n"
    assert not os.path.exists(paths.job_file(job_id, staging.DONE))


# -- stage out ------------------------------------------------------------------------------------

@pytest.fixture
def job(home):
    """A job directory with a working directory and stage-out requests:
    ``job(pairs)`` writes them and returns the working directory."""
    job_id = "00007"
    os.makedirs(paths.job_tmp_dir(job_id))

    def make(pairs):
        with open(paths.job_file(job_id, staging.REQUESTS), "w") as f:
            f.write(staging.encode_requests(pairs) + "\n")
        return paths.job_tmp_dir(job_id)

    make.id = job_id
    return make


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def test_stage_out_exact_content_and_never_replaces(job, tmp_path):
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "res").write_text("kept\n")
    (dest / "res.1").write_text("kept too\n")
    work = job([("res", str(dest / "res")), ("sub/deep", str(dest) + "/"), ("res", str(dest))])
    data = os.urandom(5000)
    with open(os.path.join(work, "res"), "wb") as f:
        f.write(data)
    os.makedirs(os.path.join(work, "sub"))
    _file(os.path.join(work, "sub", "deep"), 7)
    assert staging.stage_out(job.id, 5000, 10 ** 6) == []
    assert (dest / "res").read_text() == "kept\n" and (dest / "res.1").read_text() == "kept too\n"
    assert _read(dest / "res.2") == data
    assert _read(dest / "deep") == b"x" * 7
    assert _read(dest / "res.3") == data  # DEST a directory: DEST/FILE, again not replaced
    assert sorted(os.listdir(dest)) == ["deep", "res", "res.1", "res.2", "res.3"]  # no temporary left
    done = _read(paths.job_file(job.id, staging.DONE)).decode().splitlines()
    assert done == ["res -> %s/res.2" % dest, "sub/deep -> %s/deep" % dest, "res -> %s/res.3" % dest]
    # Once done, done: a second call (the controller after the sputnik) copies nothing.
    assert staging.stage_out(job.id, 5000, 10 ** 6) == []
    assert len(os.listdir(dest)) == 5


def test_stage_out_limits_at_both_ends(job, tmp_path):
    work = job([("a", str(tmp_path / "a")), ("b", str(tmp_path / "b")), ("c", str(tmp_path / "c"))])
    _file(os.path.join(work, "a"), 100)  # exactly stage_limit
    _file(os.path.join(work, "b"), 101)  # one byte more
    _file(os.path.join(work, "c"), 100)  # would pass the job's limit
    failed = staging.stage_out(job.id, 100, 150)
    assert _read(tmp_path / "a") == b"x" * 100
    assert not (tmp_path / "b").exists() and not (tmp_path / "c").exists()
    assert failed == [
        staging.failure_line("b", str(tmp_path / "b"), "101 bytes, more than stage_limit (100)", work),
        staging.failure_line("c", str(tmp_path / "c"), "100 bytes, more than is left of stage_job_limit (50)", work),
    ]
    # Kept where they were, whole.
    assert os.path.getsize(os.path.join(work, "b")) == 101
    assert staging.failures(job.id) == failed


def test_stage_out_never_leaves_the_working_directory(job, tmp_path):
    secret = tmp_path / "id_rsa"
    secret.write_text("PRIVATE KEY\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "f").write_text("outside\n")
    dest = tmp_path / "dest"
    dest.mkdir()
    work = job([("key", str(dest) + "/"), ("dir/f", str(dest) + "/"), ("fifo", str(dest) + "/"),
                ("d", str(dest) + "/"), ("missing", str(dest) + "/"), ("plain/x", str(dest) + "/")])
    os.symlink(str(secret), os.path.join(work, "key"))
    os.symlink(str(outside), os.path.join(work, "dir"))
    os.mkfifo(os.path.join(work, "fifo"))
    os.mkdir(os.path.join(work, "d"))
    _file(os.path.join(work, "plain"), 1)
    failed = staging.stage_out(job.id, 100, 1000)
    assert os.listdir(dest) == []
    reasons = [line.split(" failed: ")[1].split("; the file stays")[0] for line in failed]
    assert reasons == ["key is a symbolic link, which is not followed",
                       "dir is a symbolic link, which is not followed",
                       "not a regular file", "not a regular file", "missing", "plain is not a directory"]


def test_stage_out_into_an_unwritable_directory_keeps_the_file(job, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    work = job([("r", str(ro / "r")), ("r", str(tmp_path / "no" / "dir" / "r"))])
    _file(os.path.join(work, "r"), 4)
    os.chmod(ro, 0o500)
    try:
        if os.access(str(ro), os.W_OK):
            pytest.skip("root writes into a mode 0500 directory (tests/e2e/test_staging.py mounts one read-only)")
        failed = staging.stage_out(job.id, 100, 1000)
    finally:
        os.chmod(ro, 0o700)
    assert failed == [staging.failure_line("r", str(ro / "r"), "%s: Permission denied" % ro, work),
                      staging.failure_line("r", str(tmp_path / "no" / "dir" / "r"),
                                           "%s: No such file or directory" % (tmp_path / "no" / "dir"), work)]
    assert os.listdir(ro) == []
    assert os.path.getsize(os.path.join(work, "r")) == 4


def test_existing_names_exhausted(job, tmp_path, monkeypatch):
    monkeypatch.setattr(staging, "MAX_SUFFIX", 2)
    dest = tmp_path / "dest"
    dest.mkdir()
    for name in ("r", "r.1", "r.2"):
        (dest / name).write_text(name)
    work = job([("r", str(dest / "r"))])
    _file(os.path.join(work, "r"), 1)
    [line] = staging.stage_out(job.id, 10, 10)
    assert "r.1 to " in line and "exist already" in line
    assert sorted(os.listdir(dest)) == ["r", "r.1", "r.2"]
    assert [(dest / n).read_text() for n in ("r", "r.1", "r.2")] == ["r", "r.1", "r.2"]


def test_without_hard_links_a_free_name_is_still_never_replaced(job, tmp_path, monkeypatch):
    def no_link(src, dst):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_link)
    (tmp_path / "r").write_text("kept")
    work = job([("r", str(tmp_path / "r"))])
    _file(os.path.join(work, "r"), 3)
    assert staging.stage_out(job.id, 10, 10) == []
    assert (tmp_path / "r").read_text() == "kept" and (tmp_path / "r.1").read_text() == "xxx"


def test_service_environment(job, tmp_path):
    work = job([("a b", str(tmp_path / "x")), ("ok", str(tmp_path / "ok")), ("c", str(tmp_path / "y"))])
    _file(os.path.join(work, "ok"), 1)
    failed = staging.stage_out(job.id, 10, 10)
    env = staging.service_env(job.id, failed)
    assert env == {"GSAT_STAGE_OUT_FAILED": "a b\nc", "GSAT_REASON": "\n".join(failed),
                   "GSAT_STAGE_OUT_DIR": work}


def test_limits_come_from_the_configuration(home, monkeypatch):
    assert staging.limits() == (16 * MiB, 64 * MiB)
    monkeypatch.setenv("GSAT_STAGE_LIMIT", "5")
    config.reset()
    assert staging.limits() == (5, 64 * MiB)
    monkeypatch.setenv("GSAT_STAGE_JOB_LIMIT", "0")
    config.reset()
    with pytest.raises(config.ConfigError, match="stage_job_limit"):
        config.check_all()
    # At a job's end a configuration gone bad is no reason to stop.
    assert staging.limits() == (16 * MiB, 64 * MiB)


def test_modes(job, tmp_path):
    work = job([("r", str(tmp_path / "r"))])
    _file(os.path.join(work, "r"), 1)
    old = os.umask(0o022)
    try:
        staging.stage_out(job.id, 10, 10)
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "r").st_mode) == 0o644


def test_receive_refuses_a_link_in_the_spool(home):
    spool = paths.stage_spool_dir()
    os.makedirs(spool)
    elsewhere = home / "elsewhere"
    elsewhere.mkdir()
    os.symlink(str(elsewhere), os.path.join(spool, "3.tok"))
    _staging_dir("00001")
    with pytest.raises(StageError, match="not a directory"):
        staging.receive("3.tok", "00001", "job", 10, 10)
