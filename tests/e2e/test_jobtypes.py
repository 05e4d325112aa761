"""Job types (PROTOCOL.md §5): automatic restarts, hold signals, environment.

* gtransfer: exit 75 (EX_TEMPFAIL) is restarted up to ``max_restarts``
  times; between runs other queued jobs get their turn; other exit values
  end the job.  default and tgftp jobs are never restarted.
* Hold signal per type: gtransfer SIGINT, default and tgftp SIGTERM.  The
  jobs trap the signals and write the name of the one they got into their
  working directory.
* gtransfer and tgftp jobs get ``X509_USER_PROXY``; default jobs do not.
"""

import os

import pytest

ENDED = ("finished", "failed")


def _lines(path):
    try:
        with open(path) as f:
            return f.read().split()
    except OSError:
        return []


def _jobtmp(gsat, job_id, name):
    return os.path.join(gsat.job_dir(job_id), "jobtmp", name)


# -- restarts --------------------------------------------------------------------------

def test_gtransfer_tempfail_restarts_three_times_and_lets_others_run(gsat):
    seq = os.path.join(gsat.jobs, "sequence")
    gsat.start()
    # The sleep keeps the first run going while the second job is queued
    # behind it, whatever the timing of the two submissions.
    tempfail = gsat.job("tempfail.job", (
        "#GSAT -T gtransfer\n"
        "echo A >> %s\n"
        "sleep 0.5\n"
        "exit 75\n" % seq))
    other = gsat.job("other.job", "echo B >> %s\n" % seq)
    a = gsat.qsub(tempfail)
    b = gsat.qsub(other)
    assert gsat.wait_state(a, ENDED, timeout=60) == "failed"
    assert gsat.wait_state(b, ENDED) == "finished"
    assert gsat.attr(a, "job.type") == "gtransfer"
    assert gsat.attr(a, "job.restarts") == "3"
    assert gsat.attr(a, "job.exit") == "75"
    assert len(gsat.attr(a, "job.start").split()) == 4
    assert len(gsat.attr(a, "job.stop").split()) == 4
    # fifo with one slot: the other job ran while the first one waited for
    # its restart, i.e. after its first run and before its second.
    assert _lines(seq) == ["A", "B", "A", "A", "A"]
    a_starts = [int(t) for t in gsat.attr(a, "job.start").split()]
    a_stops = [int(t) for t in gsat.attr(a, "job.stop").split()]
    b_start, b_stop = int(gsat.attr(b, "job.start")), int(gsat.attr(b, "job.stop"))
    assert a_stops[0] <= b_start <= b_stop <= a_starts[1]


def test_max_restarts_setting(gsat):
    counter = os.path.join(gsat.jobs, "counter")
    gsat.start(max_restarts=1)
    a = gsat.qsub(gsat.job("t.job", "#GSAT -T gtransfer\necho run >> %s\nexit 75\n" % counter))
    assert gsat.wait_state(a, ENDED) == "failed"
    assert _lines(counter) == ["run", "run"]
    assert gsat.attr(a, "job.restarts") == "1"


def test_gtransfer_success_finishes_without_restart(gsat):
    counter = os.path.join(gsat.jobs, "counter")
    gsat.start()
    a = gsat.qsub(gsat.job("ok.job", "#GSAT -T gtransfer\necho run >> %s\nexit 0\n" % counter))
    assert gsat.wait_state(a, ENDED) == "finished"
    assert gsat.attr(a, "job.exit") == "0"
    assert _lines(counter) == ["run"]
    assert len(gsat.attr(a, "job.start").split()) == 1
    assert gsat.attr(a, "job.restarts") in ("", "0")


@pytest.mark.parametrize("value", [1, 64, 70])
def test_gtransfer_other_failures_are_not_restarted(gsat, value):
    counter = os.path.join(gsat.jobs, "counter")
    gsat.start()
    a = gsat.qsub(gsat.job("bad.job", "#GSAT -T gtransfer\necho run >> %s\nexit %d\n" % (counter, value)))
    assert gsat.wait_state(a, ENDED) == "failed"
    assert gsat.attr(a, "job.exit") == str(value)
    assert _lines(counter) == ["run"]


@pytest.mark.parametrize("directive", ["", "#GSAT -T default\n", "#GSAT -T tgftp\n", "#GSAT -T nosuchtype\n"])
def test_tempfail_of_other_types_is_not_restarted(gsat, directive):
    counter = os.path.join(gsat.jobs, "counter")
    gsat.start()
    a = gsat.qsub(gsat.job("t.job", "%secho run >> %s\nexit 75\n" % (directive, counter)))
    assert gsat.wait_state(a, ENDED) == "failed"
    assert gsat.attr(a, "job.exit") == "75"
    assert _lines(counter) == ["run"]
    assert len(gsat.attr(a, "job.start").split()) == 1
    assert gsat.attr(a, "job.restarts") in ("", "0")
    expected = "tgftp" if "tgftp" in directive else "default"
    assert gsat.attr(a, "job.type") == expected


def test_type_option_overrides_directive(gsat):
    counter = os.path.join(gsat.jobs, "counter")
    gsat.start(max_restarts=1)
    job = gsat.job("t.job", "#GSAT -T default\necho run >> %s\nexit 75\n" % counter)
    a = gsat.run("gqsub", "-T", "gtransfer", job, check=True).stdout.strip()
    assert gsat.wait_state(a, ENDED) == "failed"
    assert gsat.attr(a, "job.type") == "gtransfer"
    assert _lines(counter) == ["run", "run"]


# -- hold signals -------------------------------------------------------------------------

TRAPPING = (
    "trap 'echo INT > got; exit 0' INT\n"
    "trap 'echo TERM > got; exit 0' TERM\n"
    "trap 'echo HUP > got; exit 0' HUP\n"
    "touch ready\n"
    "while :; do sleep 0.05; done\n"
)


@pytest.mark.parametrize("job_type,expected", [
    ("gtransfer", "INT"),
    ("default", "TERM"),
    ("tgftp", "TERM"),
])
def test_hold_signal_per_type(gsat, job_type, expected):
    gsat.start()
    a = gsat.qsub(gsat.job("hold.job", "#GSAT -T %s\n%s" % (job_type, TRAPPING)))
    gsat.wait_for(lambda: os.path.exists(_jobtmp(gsat, a, "ready")), what="job to set its traps")
    gsat.run("gqhold", a, check=True)
    assert gsat.wait_state(a, "held") == "held"
    got = _jobtmp(gsat, a, "got")
    gsat.wait_for(lambda: os.path.getsize(got) > 0 if os.path.exists(got) else False, what="signal record")
    with open(got) as f:
        assert f.read().strip() == expected
    # A held job is not ended by its (trapped) exit; it stays held.
    assert gsat.state(a) == "held"


# -- environment ----------------------------------------------------------------------------

@pytest.mark.parametrize("job_type,has_proxy", [
    ("gtransfer", True),
    ("tgftp", True),
    ("default", False),
])
def test_proxy_credential_in_environment(gsat, job_type, has_proxy):
    gsat.env.pop("X509_USER_PROXY", None)
    gsat.start()
    a = gsat.qsub(gsat.job("env.job", "#GSAT -T %s\nprintf '%%s' \"${X509_USER_PROXY-unset}\"\n" % job_type))
    assert gsat.wait_state(a, ENDED) == "finished"
    proxy = os.path.join(gsat.home, ".gsatellite", "tmp", "defaultGsiProxyCredential")
    assert gsat.attr(a, "job.stdout") == (proxy if has_proxy else "unset")
    with open(os.path.join(gsat.job_dir(a), "job.env")) as f:
        env_text = f.read()
    assert ('export X509_USER_PROXY="%s"\n' % proxy in env_text) is has_proxy


def test_proxy_credential_by_option(gsat):
    gsat.env.pop("X509_USER_PROXY", None)
    gsat.start()
    job = gsat.job("env.job", "printf '%s' \"${X509_USER_PROXY-unset}\"\n")
    a = gsat.run("gqsub", "-T", "tgftp", job, check=True).stdout.strip()
    assert gsat.wait_state(a, ENDED) == "finished"
    assert gsat.attr(a, "job.stdout") == os.path.join(gsat.home, ".gsatellite", "tmp", "defaultGsiProxyCredential")
