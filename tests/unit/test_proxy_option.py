"""gqsub --proxy FILE and #GSAT --proxy FILE (issue 15): the option's
parsing, the path's checks, what is stored, the job's X509_USER_PROXY, and
the controller's QSUB and proxy watch with real certificates on fake clocks
(no process, no sleep).  End to end: tests/e2e/test_proxy_option.py."""

import os
import sys
import threading

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from proxy_kit import proxy_pem, write_proxy  # noqa: E402

from gsatellite import directives, events, jobenv, paths, proxy, states  # noqa: E402
from gsatellite import protocol as P  # noqa: E402
from gsatellite.cli import gsatctl  # noqa: E402

from .test_controller_handlers import ask, recorder, script  # noqa: E402
from .test_proxy import GTRANSFER, advance  # noqa: E402


# -- gqsub's command line --------------------------------------------------------------

def test_both_spellings_and_the_last_one_wins():
    overrides, files = gsatctl.split_qsub_args("gqsub", ["--proxy", "a", "-N", "n", "--proxy=b=c", "job"])
    assert overrides == {"--proxy": "b=c", "-N": "n"} and files == ["job"]
    assert gsatctl.split_qsub_args("gqsub", ["--proxy=", "job"])[0] == {"--proxy": ""}


def test_a_missing_value_is_a_usage_error(capsys):
    with pytest.raises(gsatctl.Exit) as e:
        gsatctl.split_qsub_args("gqsub", ["job", "--proxy"])
    assert e.value.code == gsatctl.EX_USAGE
    assert 'Missing argument for option "--proxy"!' in capsys.readouterr().err


# -- the path's text ---------------------------------------------------------------------

def test_relative_paths_are_taken_from_the_base_and_tilde_expanded(home):
    assert proxy.canonical("x509up", "/work/dir") == "/work/dir/x509up"
    assert proxy.canonical("./sub//x509up", "/work") == "/work/sub/x509up"
    assert proxy.canonical("/tmp/x509up_u1", "/work") == "/tmp/x509up_u1"
    assert proxy.canonical("~/p", "/work") == os.path.join(str(home), "p")


@pytest.mark.parametrize("value, why", [
    ("", "empty"),
    ("../x509up", "'..' in it"),
    ("/tmp/../etc/x509up", "'..' in it"),
    ("sub/..", "'..' in it"),
    ("x509\nup", "control characters"),
    ("x509\x1b[2Jup", "control characters"),
    ("x\x7f", "control characters"),
    ("x\0y", "control characters"),
    ("/" + "a" * 5000, "longer than 4096 bytes"),
])
def test_hostile_path_text_is_refused(value, why):
    with pytest.raises(proxy.ProxyError, match="invalid proxy path .*%s" % why.replace("(", r"\(")):
        proxy.canonical(value, "/work")
    with pytest.raises(directives.DirectiveError, match="invalid proxy path"):
        directives.options([], "/work", {"--proxy": value})


@pytest.mark.parametrize("value, ok", [
    ("/tmp/x509up_u1", True), ("/a/b", True),
    (None, False), ("", False), ("relative", False), ("/a/../b", False), ("/a\nb", False),
    ("/a\x1bb", False), ("/" + "a" * 5000, False), (42, False),
])
def test_a_stored_value_is_used_only_if_a_submission_could_have_stored_it(value, ok):
    assert proxy.requested(value) is ok


# -- the file -------------------------------------------------------------------------------

def test_a_proxy_file_is_accepted_also_when_it_has_ended(tmp_path):
    path = write_proxy(str(tmp_path / "x509up"), 1000)  # ended in 1970: the job is held, not refused
    proxy.check_file(path)


def test_missing_directory_fifo_huge_and_no_certificate_are_refused_without_blocking(tmp_path):
    cases = {}
    cases[str(tmp_path / "missing")] = "not existing"
    cases[str(tmp_path)] = "is a directory"
    huge = tmp_path / "huge"
    huge.write_bytes(proxy_pem(1700000000) + b"x" * proxy.MAX_BYTES)
    cases[str(huge)] = "larger than 65536 bytes"
    text = tmp_path / "job.sh"
    text.write_text("#!/bin/bash\nexit 0\n")
    cases[str(text)] = "no PEM certificate in it"
    fifo = str(tmp_path / "fifo")
    os.mkfifo(fifo)
    cases[fifo] = "is not a regular file"
    os.symlink(str(tmp_path / "missing"), str(tmp_path / "dangling"))
    cases[str(tmp_path / "dangling")] = "not existing"
    outcome = {}

    def check_all():
        for path in cases:
            try:
                proxy.check_file(path)
            except proxy.ProxyError as e:
                outcome[path] = str(e)

    # Nobody ever opens the FIFO for writing: a blocking open would hang.
    t = threading.Thread(target=check_all, daemon=True)
    t.start()
    t.join(10)
    assert sorted(outcome) == sorted(cases)
    for path, why in cases.items():
        assert outcome[path].startswith('proxy file "%s"' % path) and why in outcome[path]
        assert "\n" not in outcome[path]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_an_unreadable_proxy_is_refused(tmp_path):
    path = write_proxy(str(tmp_path / "x509up"), 2000000000)
    os.chmod(path, 0)
    with pytest.raises(proxy.ProxyError, match="Permission denied"):
        proxy.check_file(path)


# -- directives -------------------------------------------------------------------------------

def found(tmp_path, header):
    path = tmp_path / "job.sh"
    path.write_text("#!/bin/bash\n" + header + "exit 0\n")
    return directives.scan(str(path))


@pytest.mark.parametrize("line", ["#GSAT --proxy certs/x509up", "#GSAT --proxy=certs/x509up",
                                  "#GSAT\t--proxy\tcerts/x509up", "#GSAT --proxy  certs/x509up  "])
def test_a_directive_is_taken_from_the_scripts_directory(tmp_path, line):
    opts = directives.options(found(tmp_path, line + "\n"), "/scripts")
    assert opts == {"--proxy": "/scripts/certs/x509up"}


def test_gqsubs_option_wins_over_the_directive(tmp_path):
    opts = directives.options(found(tmp_path, "#GSAT --proxy script\n"), "/scripts", {"--proxy": "/given"})
    assert opts == {"--proxy": "/given"}


def test_a_bad_directive_is_refused_in_any_script_and_a_good_one_makes_it_strict(tmp_path):
    warned = []
    with pytest.raises(directives.DirectiveError, match=r"'#GSAT --proxy': invalid proxy path '\.\./x' \('\.\.' in it\)"):
        directives.options(found(tmp_path, "#GSAT --proxy ../x\n"), "/scripts", warn=warned.append)
    # A classic script's bad -a is a warning; with a --proxy it was written
    # for these tools, and is refused.
    assert directives.options(found(tmp_path, "#GSAT -a tomorrow\n"), "/s", warn=warned.append) == {}
    with pytest.raises(directives.DirectiveError, match="'#GSAT --proxy /p'"):
        directives.options(found(tmp_path, "#GSAT --proxy /p\n#GSAT -a tomorrow\n"), "/s")


def test_the_value_travels_in_the_request(tmp_path):
    opts = {"--proxy": "/my dir/x509;up%", "-N": "n"}
    text = directives.encode(opts)
    assert " -- " not in " " + text + " " and ";" not in text and "\n" not in text
    assert directives.decode(text) == opts
    assert P.parse_qsub(P.command(P.QSUB, text, "-- ") [len(P.QSUB) + 1:] + "/j.sh") == (text, "/j.sh")


# -- the job's environment ----------------------------------------------------------------------

@pytest.mark.parametrize("job_type", ["default", "gtransfer", "tgftp"])
def test_the_given_proxy_is_the_jobs_x509_user_proxy(home, job_type, monkeypatch):
    from gsatellite import job
    from .conftest import new_job

    monkeypatch.setenv("X509_USER_PROXY", "/controllers/own")
    store, job_id = new_job(home, job_type)
    store.write(job_id, proxy.REQUEST, "/given/x509up")
    env = jobenv.build(job_id, "t", job_type, "h", job.Job(job_id).proxy_request)
    assert env["X509_USER_PROXY"] == "/given/x509up"
    assert jobenv.process_environment(env)["X509_USER_PROXY"] == "/given/x509up"
    assert proxy.file_of(job_type, given="/given/x509up") == "/given/x509up"


@pytest.mark.parametrize("garbage", ["relative", "/a/../b", "/a\x1bb", "", "/a\nb\n"])
def test_a_stored_value_edited_to_garbage_is_not_used(home, garbage, monkeypatch):
    from gsatellite import job
    from .conftest import new_job

    monkeypatch.delenv("X509_USER_PROXY", raising=False)
    store, job_id = new_job(home, "gtransfer")
    with open(paths.job_file(job_id, proxy.REQUEST), "w") as f:
        f.write(garbage)
    assert job.Job(job_id).proxy_request is None
    # The job type's proxy, as if none had been given.
    env = jobenv.build(job_id, "t", "gtransfer", "h", job.Job(job_id).proxy_request)
    assert env["X509_USER_PROXY"] == paths.proxy_credential()
    assert proxy.file_of("gtransfer", {}, given=garbage) == paths.proxy_credential()
    assert proxy.file_of("default", {}, given=garbage) is None


# -- the controller --------------------------------------------------------------------------------

@pytest.fixture
def ctl(make_controller):
    c = make_controller(proxy_warning=30, proxy_margin=10, proxy_recheck=5, scheduler="fifo", slots=1)
    c.seen = recorder(c, events.PROXY_EXPIRING)
    return c


def qsub(c, home, opts, name="a.job", body=GTRANSFER):
    path = script(home, name, body)
    _, answers = ask(c, P.command(P.QSUB, directives.encode(opts), "-- ") + path if opts else P.qsub(path))
    assert len(answers) == 1, answers
    return answers[0]


def test_the_capability_is_announced():
    assert P.PROXY in P.CONTROLLER_CAPABILITIES


def test_the_given_proxy_is_stored_and_watched_instead_of_the_types(ctl, home):
    c = ctl
    write_proxy(paths.proxy_credential(), int(c.fake_now()) + 10000)  # gtransfer's own: far away
    given = write_proxy(os.path.join(str(home), "certs", "x509up"), int(c.fake_now()) + 100)
    job_id = qsub(c, home, {"--proxy": given})
    assert job_id.isdigit()
    assert c.store.read(job_id, proxy.REQUEST) == given
    assert c.store.read(job_id, "job.proxyFile") == given
    assert c.store.read(job_id, "job.proxyNotAfter") == str(int(c.fake_now()) + 100)
    advance(c, 70)
    assert [(j, info["proxy_file"]) for _, j, info in c.seen] == [(job_id, given)]


def test_a_submission_is_watched_from_what_it_staged_not_read_back(ctl, home, monkeypatch):
    # Two reads a job fewer (issue 18); what is watched is the same.
    c = ctl
    given = write_proxy(os.path.join(str(home), "certs", "x509up"), int(c.fake_now()) + 100)
    real_read, read = c.store.read, []
    monkeypatch.setattr(c.store, "read", lambda job_id, name, *a: read.append(name) or real_read(job_id, name, *a))
    job_id = qsub(c, home, {"--proxy": given})
    assert proxy.REQUEST not in read and "job.type" not in read
    assert c.job_proxies == {job_id: given}


def test_a_scripts_directive_is_read_by_the_controller_too(ctl, home):
    c = ctl
    given = write_proxy(os.path.join(str(home), "x509up"), int(c.fake_now()) + 100)
    job_id = qsub(c, home, None, body="#!/bin/bash\n#GSAT --proxy x509up\nexit 0\n")
    assert c.store.read(job_id, proxy.REQUEST) == given


@pytest.mark.parametrize("make", ["missing", "dir", "fifo", "text", "relative-dotdot"])
def test_the_controller_refuses_what_it_cannot_watch(ctl, home, make):
    c = ctl
    target = os.path.join(str(home), "p")
    if make == "dir":
        os.mkdir(target)
    elif make == "fifo":
        os.mkfifo(target)
    elif make == "text":
        with open(target, "w") as f:
            f.write("no certificate\n")
    elif make == "relative-dotdot":
        target = "../p"
    before = c.store.ids()
    assert qsub(c, home, {"--proxy": target}) == P.QSUB_FAILED
    assert c.store.ids() == before


def test_an_expired_given_proxy_holds_the_job_until_renewed(ctl, home):
    c = ctl
    given = write_proxy(os.path.join(str(home), "x509up"), int(c.fake_now()) - 5)
    job_id = qsub(c, home, {"--proxy": given}, body="exit 0\n")
    assert c.store.state(job_id) == states.HELD
    assert c.store.read(job_id, "job.proxyHold").startswith("held: proxy %s ended" % given)
    write_proxy(given, int(c.fake_now()) + 1000)
    advance(c, 5)
    assert c.store.state(job_id) == states.QUEUED


@pytest.mark.parametrize("garbage", ["relative", "/a/../b", "\x1b[2J", "/" + "a" * 5000, "\udcff"])
def test_a_stored_value_edited_to_garbage_neither_crashes_nor_is_watched(make_controller, home, garbage, capsys):
    c = make_controller(proxy_warning=30, proxy_margin=10, proxy_recheck=5, slots=1)
    write_proxy(paths.proxy_credential(), int(c.fake_now()) + 1000)
    job_id = qsub(c, home, None)
    with open(paths.job_file(job_id, proxy.REQUEST), "w", errors="surrogateescape") as f:
        f.write(garbage)
    c2 = make_controller(proxy_warning=30, proxy_margin=10, proxy_recheck=5, slots=1)
    c2.proxy_recover()
    assert c2.job_proxies == {job_id: paths.proxy_credential()}  # the type's, as if none was given
    assert "job %s: job.x509UserProxy %r ignored" % (job_id, garbage[:200]) in capsys.readouterr().out
