"""#GSAT directives and gqsub's job options, end to end (FEATURES.md §5).

* ``-N`` names the job in gqstat; a gqsub option overrides the directive.
* ``-o``/``-e`` copy the job's streams at its end: absolute paths, paths in
  directives relative to the job file's directory, paths in gqsub options
  relative to gqsub's working directory.  An unwritable destination is
  reported (``job.outputError``, sputnik.log) and the output stays in the
  job directory.
* Unknown directives warn and the job is still submitted; malformed values
  make gqsub refuse (exit 1, clear message) and nothing is queued, when
  given as options or in a script written for the new options (it has a
  valid ``-N``, ``-a`` or ``-W``); in any other script they are ignored with
  a warning, as the classic tool ignored them.
* ``-T`` is read where the classic tool read it, anywhere in the file.
* ``-a`` defers the start (directive and option).
"""

import os

import pytest

ENDED = ("finished", "failed")
STREAMS = "echo to-stdout\necho to-stderr >&2\n"


def _gqstat_name(gsat, job_id):
    """The job.name column of gqstat's table for ``job_id``."""
    out = gsat.run("gqstat", check=True).stdout
    for line in out.splitlines()[2:]:
        if line[13:19].strip() == job_id:
            return line[45:].rstrip()
    raise AssertionError("job %s not in gqstat output:\n%s" % (job_id, out))


def _read(path):
    with open(path) as f:
        return f.read()


def _next_id(gsat):
    return _read(os.path.join(gsat.g, "gschedule", "nextJobId")).strip()


def _job_dirs(gsat):
    return sorted(os.listdir(os.path.join(gsat.g, "gschedule", "jobs")))


# -- names -------------------------------------------------------------------------------

def test_name_directive_shown_by_gqstat(gsat):
    gsat.start()
    a = gsat.qsub(gsat.job("file-name.job", "#GSAT -N nice name\ntrue\n"))
    assert gsat.wait_state(a, ENDED) == "finished"
    assert _gqstat_name(gsat, a) == "nice name"
    assert 'job.name="nice name"' in gsat.run("gqstat", "-f", a, check=True).stdout.splitlines()


def test_name_option_overrides_directive(gsat):
    gsat.start()
    job = gsat.job("file-name.job", "#GSAT -N a\ntrue\n")
    a = gsat.run("gqsub", "-N", "b", job, check=True).stdout.strip()
    assert gsat.wait_state(a, ENDED) == "finished"
    assert _gqstat_name(gsat, a) == "b"
    assert gsat.attr(a, "job.name") == "b"


def test_without_name_the_file_name_is_shown(gsat):
    gsat.start()
    a = gsat.qsub(gsat.job("file-name.job", "true\n"))
    assert gsat.wait_state(a, ENDED) == "finished"
    assert _gqstat_name(gsat, a) == "file-name.job"


# -- output copies ---------------------------------------------------------------------------

def test_output_copies_absolute_directives(gsat):
    dest = gsat.tmp / "dest"
    dest.mkdir()
    gsat.start()
    job = gsat.job("abs.job", "#GSAT -o %s/out.txt\n#GSAT -e %s/err.txt\n%s" % (dest, dest, STREAMS))
    a = gsat.qsub(job)
    assert gsat.wait_state(a, ENDED) == "finished"
    assert _read(dest / "out.txt") == "to-stdout\n"
    assert _read(dest / "err.txt") == "to-stderr\n"
    # Copies: the originals stay in the job directory.
    assert gsat.attr(a, "job.stdout") == "to-stdout"
    assert gsat.attr(a, "job.stderr") == "to-stderr"
    assert not os.path.exists(os.path.join(gsat.job_dir(a), "job.outputError"))


def test_relative_directive_paths_follow_the_job_file(gsat):
    sub = os.path.join(gsat.jobs, "sub")
    os.makedirs(os.path.join(sub, "rel"))
    elsewhere = gsat.tmp / "elsewhere"
    elsewhere.mkdir()
    gsat.start()
    job = gsat.job("sub/rel.job", "#GSAT -o rel/out.txt\n#GSAT -e err.txt\n%s" % STREAMS)
    # Submitted from another directory, by a relative path.
    p = gsat.run("gqsub", os.path.relpath(job, str(elsewhere)), cwd=str(elsewhere), check=True)
    a = p.stdout.strip()
    assert gsat.wait_state(a, ENDED) == "finished"
    assert _read(os.path.join(sub, "rel", "out.txt")) == "to-stdout\n"
    assert _read(os.path.join(sub, "err.txt")) == "to-stderr\n"
    assert os.listdir(str(elsewhere)) == []


def test_relative_option_paths_follow_gqsub_cwd(gsat):
    sub = os.path.join(gsat.jobs, "sub")
    os.makedirs(sub)
    cwd = gsat.tmp / "cwd"
    cwd.mkdir()
    gsat.start()
    job = gsat.job("sub/opt.job", "#GSAT -o directive.out\n#GSAT -e directive.err\n%s" % STREAMS)
    a = gsat.run("gqsub", "-o", "opt.out", "-e", "opt.err", job, cwd=str(cwd), check=True).stdout.strip()
    assert gsat.wait_state(a, ENDED) == "finished"
    assert _read(cwd / "opt.out") == "to-stdout\n"
    assert _read(cwd / "opt.err") == "to-stderr\n"
    # The options replaced the directives.
    assert sorted(os.listdir(sub)) == ["opt.job"]


def test_unwritable_destination_is_reported(gsat):
    regular = gsat.tmp / "regular"
    regular.write_text("I am a file\n")
    out_dest = "%s/x.out" % regular
    err_dest = "%s/no/such/dir/x.err" % gsat.tmp
    gsat.start()
    job = gsat.job("bad-dest.job", "#GSAT -o %s\n#GSAT -e %s\n%s" % (out_dest, err_dest, STREAMS))
    a = gsat.qsub(job)
    assert gsat.wait_state(a, ENDED) == "finished"
    assert gsat.attr(a, "job.exit") == "0"
    errors = gsat.attr(a, "job.outputError").splitlines()
    assert len(errors) == 2
    assert "job.stdout" in errors[0] and out_dest in errors[0]
    assert "job.stderr" in errors[1] and err_dest in errors[1]
    log = gsat.attr(a, "sputnik.log")
    for line in errors:
        assert line in log
    assert gsat.attr(a, "job.stdout") == "to-stdout"
    assert gsat.attr(a, "job.stderr") == "to-stderr"
    assert _read(regular) == "I am a file\n"
    assert not os.path.exists(os.path.join(str(gsat.tmp), "no"))


# -- unknown and malformed directives ----------------------------------------------------------

def test_unknown_directive_warns_and_submits(gsat):
    gsat.start()
    job = gsat.job("unknown.job", "#GSAT -Z whatever\n#GSAT -N known\ntrue\n")
    p = gsat.run("gqsub", job)
    assert p.returncode == 0
    a = p.stdout.strip()
    assert a.isdigit()
    assert "warning" in p.stderr and "-Z whatever" in p.stderr
    assert gsat.wait_state(a, ENDED) == "finished"
    assert gsat.attr(a, "job.name") == "known"


@pytest.mark.parametrize("option,value", [
    ("-M", "a@@b"),
    ("-m", "xyz"),
    ("-N", "a/b"),
])
@pytest.mark.parametrize("how", ["directive", "option"])
def test_malformed_value_refused_nothing_queued(gsat, option, value, how):
    gsat.start()
    first = gsat.qsub(gsat.job("first.job", "true\n"))
    assert gsat.wait_state(first, ENDED) == "finished"
    before_id, before_dirs = _next_id(gsat), _job_dirs(gsat)
    good = gsat.job("good.job", "true\n")
    if how == "directive":
        # -a makes the script one written for the new options: strict.
        bad = gsat.job("bad.job", "#GSAT -a 2000-01-01T00:00\n#GSAT %s %s\ntrue\n" % (option, value))
        # The good job named first must not be queued either.
        p = gsat.run("gqsub", good, bad)
    else:
        p = gsat.run("gqsub", option, value, good)
    assert p.returncode == 1
    assert p.stdout == ""
    assert repr(value) in p.stderr and "nothing submitted" in p.stderr
    assert _next_id(gsat) == before_id
    assert _job_dirs(gsat) == before_dirs


def test_classic_script_keeps_its_meaning(gsat):
    gsat.start()
    job = gsat.job("classic.job", (
        "# a script written for the classic tool\n"
        "#GSAT -a tomorrow\n"
        "#GSAT -m xyz\n"
        "echo started\n"
        "#GSAT -T gtransfer\n"
        "exit 0\n"))
    p = gsat.run("gqsub", job)
    assert p.returncode == 0, p.stderr
    a = p.stdout.strip()
    assert "'#GSAT -a tomorrow' ignored" in p.stderr and "'#GSAT -m xyz' ignored" in p.stderr
    assert gsat.wait_state(a, ENDED) == "finished"
    assert gsat.attr(a, "job.type") == "gtransfer"
    assert gsat.attr(a, "job.startAfter") == "" and gsat.attr(a, "job.mailPoints") == ""


def test_unknown_type_option_refused(gsat):
    gsat.start()
    p = gsat.run("gqsub", "-T", "nosuchtype", gsat.job("t.job", "true\n"))
    assert p.returncode == 1 and "unknown job type" in p.stderr and p.stdout == ""


# -- deferred start -------------------------------------------------------------------------------

def test_start_after_directive_defers(gsat):
    gsat.start()
    a = gsat.qsub(gsat.job("later.job", "#GSAT -a 2099-12-01T14:00\ntrue\n"))
    gsat.wait_for(lambda: gsat.attr(a, "job.reason").startswith("deferred"), what="deferral reason")
    assert gsat.state(a) == "queued"
    assert int(gsat.attr(a, "job.startAfter")) > 4000000000


def test_start_after_option_defers(gsat):
    gsat.start()
    job = gsat.job("later.job", "true\n")
    p = gsat.run("gqsub", "-a", "2099-12-01T14:00", job)
    assert p.returncode == 0, p.stderr
    a = p.stdout.strip()
    gsat.wait_for(lambda: gsat.attr(a, "job.reason").startswith("deferred"), what="deferral reason")
    assert gsat.state(a) == "queued"


def test_option_value_with_tab(gsat):
    gsat.start()
    job = gsat.job("tab.job", "true\n")
    p = gsat.run("gqsub", "-N", "a\tb", job)
    assert p.returncode == 0, p.stderr
    a = p.stdout.strip()
    assert gsat.wait_state(a, ENDED) == "finished"
    assert gsat.attr(a, "job.name") == "a\tb"


def test_option_value_with_ideographic_space(gsat):
    gsat.start()
    job = gsat.job("wide.job", "true\n")
    p = gsat.run("gqsub", "-N", "a\u3000b", job)
    assert p.returncode == 0, p.stderr
    a = p.stdout.strip()
    assert gsat.wait_state(a, ENDED) == "finished"
    assert gsat.attr(a, "job.name") == "a\u3000b"
