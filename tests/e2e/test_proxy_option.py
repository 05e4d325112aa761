"""gqsub --proxy FILE and #GSAT --proxy FILE end to end (issue 15): the real
controller watches the given file for the job, with real certificates that
end within seconds (tests/proxy_kit.py), a real PROXY_EXPIRING service that
records its environment, and a job that writes its own environment.

Every wait is for a sentinel (a file renamed into place, a job state).
"""

import json
import os
import sys
import time


TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, TESTS)

from proxy_kit import proxy_pem, write_proxy  # noqa: E402

from e2e.test_classic_controller import classic  # noqa: E402,F401 - the fixture
from e2e.test_proxy import gated, iso, proxy_path, records, recording_service  # noqa: E402


def env_of(path):
    with open(path) as f:
        return dict(line.split("=", 1) for line in f.read().splitlines() if "=" in line)


def store(gsat):
    d = os.path.join(gsat.g, "gschedule", "jobs")
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def test_the_given_proxy_is_the_jobs_and_is_warned_about(gsat):
    """A gtransfer job (whose own proxy would be the default credential,
    valid for hours) submitted with --proxy and a relative path: the job's
    X509_USER_PROXY is the given file, the warning names it."""
    d = recording_service(gsat)
    gsat.start(proxy_warning=3, proxy_margin=0, scheduler="nobatch")
    write_proxy(proxy_path(gsat), int(time.time()) + 7200)
    end = int(time.time()) + 6
    given = write_proxy(str(gsat.tmp / "certs" / "x509up"), end)
    gate, wait = gated(gsat, "t")
    env_file = str(gsat.tmp / "job.env")
    job = gsat.job("t.job", '#GSAT -T gtransfer\nenv > "%s.tmp" && mv "%s.tmp" "%s"\n%s'
                   % (env_file, env_file, env_file, wait))
    p = gsat.run("gqsub", "--proxy", "certs/x509up", job, cwd=str(gsat.tmp), check=True)
    job_id = p.stdout.strip()
    assert p.stderr == ""
    assert gsat.attr(job_id, "job.x509UserProxy") == given
    gsat.wait_for(lambda: os.path.exists(env_file), what="the job's environment")
    assert env_of(env_file)["X509_USER_PROXY"] == given
    gsat.wait_for(lambda: records(d), timeout=30, what="the PROXY_EXPIRING service")
    got = records(d)
    assert list(got) == ["%s.%s.no" % (job_id, iso(end))]  # nothing for the default credential
    env = got["%s.%s.no" % (job_id, iso(end))]
    assert env["GSAT_PROXY_FILE"] == given and env["X509_USER_PROXY"] == given
    assert env["GSAT_PROXY_NOT_AFTER"] == iso(end) and int(env["GSAT_PROXY_SECONDS_LEFT"]) <= 3
    record = json.loads(gsat.run("gqstat", "--json", "-f", job_id, check=True).stdout)[0]
    assert (record["x509_user_proxy"], record["proxy_file"], record["proxy_not_after_epoch"]) == (given, given, end)
    assert 'job.x509UserProxy="%s"' % given in gsat.run("gqstat", "-f", "-x", job_id, check=True).stdout
    open(gate, "w").close()
    assert gsat.wait_state(job_id, ("finished", "failed")) == "finished"


def test_a_queued_job_with_an_ended_directive_proxy_is_held_until_renewed(gsat):
    """#GSAT --proxy=FILE, relative to the script's directory; the
    controller's own X509_USER_PROXY (valid) does not count for this job."""
    own = write_proxy(str(gsat.tmp / "controllers"), int(time.time()) + 7200)
    gsat.env["X509_USER_PROXY"] = own
    gsat.start(proxy_recheck=0.2)
    given = write_proxy(os.path.join(gsat.jobs, "x509up"), int(time.time()) - 60)
    job_id = gsat.qsub(gsat.job("d.job", '#GSAT --proxy=x509up\necho "$X509_USER_PROXY"\n'))
    gsat.wait_state(job_id, "held")
    assert gsat.attr(job_id, "job.proxyHold").startswith("held: proxy %s ended at" % given)
    assert gsat.attr(job_id, "job.proxyFile") == given
    assert gsat.attr(job_id, "job.start") == ""  # never started
    write_proxy(given, int(time.time()) + 7200)
    assert gsat.wait_state(job_id, ("finished", "failed")) == "finished"
    assert gsat.attr(job_id, "job.stdout") == given
    assert gsat.attr(job_id, "job.proxyHold") == ""


def test_hostile_values_are_refused_with_one_line_and_nothing_queued(gsat):
    tmp = str(gsat.tmp)
    os.mkdir(os.path.join(tmp, "adir"))
    os.mkfifo(os.path.join(tmp, "fifo"))  # nobody writes to it: reading it would block
    with open(os.path.join(tmp, "huge"), "wb") as f:
        f.write(proxy_pem(int(time.time()) + 3600) + b"x" * (1 << 20))
    with open(os.path.join(tmp, "text"), "w") as f:
        f.write("not a proxy\n")
    write_proxy(os.path.join(tmp, "sub", "x509up"), int(time.time()) + 3600)
    gsat.start()
    job = gsat.job("plain.job", "true\n")
    cases = [
        (["--proxy", "sub/../sub/x509up"], "invalid proxy path 'sub/../sub/x509up' ('..' in it)"),
        (["--proxy=/tmp/x\x1b[2J"], "invalid proxy path '/tmp/x\\x1b[2J' (control characters in it)"),
        (["--proxy", "x\ny"], "invalid proxy path 'x\\ny' (control characters in it)"),
        (["--proxy", ""], "invalid proxy path '' (empty)"),
        (["--proxy", "missing"], 'proxy file "%s/missing" not existing' % tmp),
        (["--proxy", "adir"], 'proxy file "%s/adir" is a directory' % tmp),
        (["--proxy", "fifo"], 'proxy file "%s/fifo" is not a regular file' % tmp),
        (["--proxy", "huge"], 'proxy file "%s/huge": larger than 65536 bytes' % tmp),
        (["--proxy", "text"], 'proxy file "%s/text": no PEM certificate in it' % tmp),
    ]
    for args, message in cases:
        p = gsat.run("gqsub", *(args + [job]), cwd=tmp, timeout=20)
        assert (p.returncode, p.stdout, p.stderr.count("\n")) == (1, "", 1), (args, p.stderr)
        assert p.stderr.startswith("gqsub: ") and message in p.stderr, (args, p.stderr)
        assert p.stderr.endswith("; nothing submitted.\n"), p.stderr
        assert store(gsat) == []
    for directive, message in [("#GSAT --proxy ../x509up", "invalid proxy path '../x509up'"),
                               ("#GSAT --proxy nothing", 'proxy file "%s/nothing" not existing' % gsat.jobs)]:
        # An otherwise classic script: a bad --proxy is refused all the same.
        p = gsat.run("gqsub", gsat.job("d.job", "#GSAT -o out\n%s\ntrue\n" % directive))
        assert (p.returncode, p.stdout, p.stderr.count("\n")) == (1, "", 1), p.stderr
        assert "'#GSAT --proxy'" in p.stderr or "proxy file" in p.stderr
        assert message in p.stderr and p.stderr.endswith("; nothing submitted.\n"), p.stderr
        assert store(gsat) == []
    # The controller kept answering all along; a good one is queued.
    job_id = gsat.qsub("--proxy", os.path.join(tmp, "sub", "x509up"), job)
    assert gsat.wait_state(job_id, ("finished", "failed")) == "finished"


def test_a_controller_without_proxy_support_gets_no_request(gsat, classic):  # noqa: F811 - the fixture
    given = write_proxy(str(gsat.tmp / "x509up"), int(time.time()) + 3600)
    job = gsat.job("ok.sh", "true\n")
    p = gsat.run("gqsub", "--proxy", given, job)
    assert (p.returncode, p.stdout) == (1, "")
    assert "does not understand gqsub's option --proxy; nothing submitted" in p.stderr
    script = gsat.job("d.sh", "#GSAT --proxy %s\ntrue\n" % given)
    p = gsat.run("gqsub", script)
    assert (p.returncode, p.stdout) == (1, "")
    assert "does not understand '#GSAT --proxy %s' in %s" % (given, script) in p.stderr
    # A Python controller from before --proxy (it names its capabilities).
    with open(os.path.join(gsat.g, "gsatlcCapabilities"), "w") as f:
        f.write("%d %s QSUB-OPTIONS QWAIT QSUB-STAGE\n" % (classic.proc.pid, "classichost"))
    for argv in (["--proxy", given, job], [script]):
        p = gsat.run("gqsub", *argv)
        assert (p.returncode, p.stdout, p.stderr.count("\n")) == (1, "", 1), p.stderr
        assert "does not know --proxy; nothing submitted" in p.stderr
    assert not any(m.startswith("QSUB") for m in classic.messages())
