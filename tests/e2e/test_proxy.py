"""Proxy expiry end to end (FEATURES.md §8, issue 15): the real controller,
real certificates that end within seconds (tests/proxy_kit.py), a real
PROXY_EXPIRING service that records its environment, real mail to a local
SMTP server, and a kill -9 of the controller.

Every wait is for a sentinel (a file the service renames into place, a job
state, a mail); the proxy lifetimes only leave the controller time to act.
"""

import glob
import json
import os
import sys
import time


TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, TESTS)

import smtp_server  # noqa: E402
from proxy_kit import write_proxy  # noqa: E402

from .test_crash_recovery import kill9_controller  # noqa: E402
from smtp_server import smtp  # noqa: E402,F401 - the fixture


def proxy_path(gsat):
    return os.path.join(gsat.g, "tmp", "defaultGsiProxyCredential")


def recording_service(gsat):
    """A PROXY_EXPIRING service writing its environment to
    ``records/JOBID.NOTAFTER.HELD`` (renamed into place: never read half-written)."""
    d = str(gsat.tmp / "records")
    os.makedirs(d)
    gsat.service("PROXY_EXPIRING", "record",
                 'out="%s/$GSAT_O_JOBID.$GSAT_PROXY_NOT_AFTER.$GSAT_PROXY_HELD"\n'
                 'env > "$out.tmp" && mv "$out.tmp" "$out"\n' % d)
    return d


def records(d):
    out = {}
    for path in sorted(glob.glob(os.path.join(d, "*"))):
        if path.endswith(".tmp"):
            continue
        with open(path) as f:
            out[os.path.basename(path)] = dict(line.split("=", 1) for line in f.read().splitlines() if "=" in line)
    return out


def iso(epoch):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def gtransfer_job(gsat, name, body="exit 0\n", directives=""):
    return gsat.job(name, "#GSAT -T gtransfer\n" + directives + body)


def gated(gsat, name):
    gate = str(gsat.tmp / (name + ".gate"))
    return gate, 'while [ ! -e "%s" ]; do sleep 0.05; done\nexit 0\n' % gate


def test_the_warning_comes_once_and_a_renewal_moves_it(gsat):
    d = recording_service(gsat)
    gsat.start(proxy_warning=3, proxy_margin=0, scheduler="nobatch")
    first = int(time.time()) + 7
    write_proxy(proxy_path(gsat), first)
    gate, body = gated(gsat, "transfer")
    job_id = gsat.qsub(gtransfer_job(gsat, "transfer.job", body))
    gsat.wait_for(lambda: gsat.attr(job_id, "job.proxyNotAfter") == str(first), what="the proxy read")
    # Renewed before the warning time (first - 3, some 4 s from now): the
    # controller reads the file again then, and moves the warning to the
    # renewed end - 3, after the old warning time.
    renewed = first + 2
    write_proxy(proxy_path(gsat), renewed)
    gsat.wait_state(job_id, "running")
    gsat.wait_for(lambda: records(d), timeout=30, what="the PROXY_EXPIRING service")
    got = records(d)
    assert list(got) == ["%s.%s.no" % (job_id, iso(renewed))]  # nothing for the old validity
    env = next(iter(got.values()))
    assert env["GSAT_EVENT"] == "PROXY_EXPIRING"
    assert env["GSAT_PROXY_FILE"] == proxy_path(gsat)
    assert env["GSAT_PROXY_NOT_AFTER"] == iso(renewed)
    assert 0 <= int(env["GSAT_PROXY_SECONDS_LEFT"]) <= 3  # at the renewed warning time, not before
    assert env["GSAT_O_JOBID"] == job_id and env["GSAT_JOBNAME"] == "transfer.job"  # the job's environment
    assert env["X509_USER_PROXY"] == proxy_path(gsat)
    # gqstat shows what the controller read.
    record = json.loads(gsat.run("gqstat", "--json", "-f", job_id, check=True).stdout)[0]
    assert record["proxy_not_after_epoch"] == renewed and record["proxy_file"] == proxy_path(gsat)
    assert record["proxy_not_after_iso"] and record["proxy_hold"] is None
    detailed = gsat.run("gqstat", "-f", "-x", job_id, check=True).stdout
    assert 'job.proxyFile="%s"' % proxy_path(gsat) in detailed
    assert "job.proxyNotAfterTime=" in detailed
    assert "proxyNotAfter" not in gsat.run("gqstat", "-f", job_id, check=True).stdout  # the classic lines only
    open(gate, "w").close()
    assert gsat.wait_state(job_id, ("finished", "failed")) == "finished"
    assert list(records(d)) == list(got)


def test_an_ended_proxy_holds_the_job_until_it_is_renewed_across_a_kill9(gsat, smtp):  # noqa: F811 - the fixture
    d = recording_service(gsat)
    gsat.start(proxy_warning=60, proxy_recheck=0.2, scheduler="nobatch",
               smtp_host=smtp_server.HOST, smtp_port=smtp.port, mail_from="gsat@test.invalid")
    ended = int(time.time()) - 60
    write_proxy(proxy_path(gsat), ended)
    mine = gtransfer_job(gsat, "auto.job", directives="#GSAT -m a\n")
    users = gtransfer_job(gsat, "users.job")
    auto, held_by_user = gsat.qsub(mine, users)
    for job_id in (auto, held_by_user):
        gsat.wait_state(job_id, "held")
    assert gsat.attr(auto, "job.proxyHold").startswith("held: proxy %s ended at" % proxy_path(gsat))
    detailed = gsat.run("gqstat", "-f", "-x", auto, check=True).stdout
    assert 'job.reason="held: proxy' in detailed and 'job.proxyHold="held: proxy' in detailed
    # The user is told: the service and a mail (-m a).
    name = "%s.%s.yes" % (auto, iso(ended))
    gsat.wait_for(lambda: name in records(d), what="the hold's PROXY_EXPIRING service")
    env = records(d)[name]
    assert int(env["GSAT_PROXY_SECONDS_LEFT"]) <= -60 and env["GSAT_REASON"].startswith("held: proxy")
    mail = smtp.wait_count(1)[0]["message"]
    assert mail["Subject"] == "[GSAT] %s => PROXY_EXPIRING" % auto
    assert "Reason: held: proxy %s ended at" % proxy_path(gsat) in mail.get_body(("plain",)).get_content()
    # The user's own gqhold makes the hold the user's: never released by itself.
    gsat.run("gqhold", held_by_user, check=True)
    assert gsat.attr(held_by_user, "job.proxyHold") == ""
    # The automatic hold is on disk: a controller killed with SIGKILL and
    # started again still releases the job once the proxy is renewed.
    kill9_controller(gsat)
    gsat.start()
    assert gsat.state(auto) == "held" and gsat.attr(auto, "job.proxyHold")
    write_proxy(proxy_path(gsat), int(time.time()) + 3600)
    assert gsat.wait_state(auto, ("finished", "failed")) == "finished"
    assert gsat.attr(auto, "job.proxyHold") == "" and "proxy" not in gsat.attr(auto, "job.reason")
    assert gsat.state(held_by_user) == "held"  # released in the same look as the other: it would be by now
    # One event for the hold, no warning for the renewed proxy (an hour left > 60 s).
    assert sorted(records(d)) == sorted([name, "%s.%s.yes" % (held_by_user, iso(ended))])
    assert len(smtp.received()) == 1


def test_a_hostile_proxy_file_neither_blocks_nor_stops_the_controller(gsat):
    """A FIFO in the proxy's place (nobody ever writes to it): the job runs
    as if it had no known proxy, and the controller keeps answering."""
    os.makedirs(os.path.dirname(proxy_path(gsat)), exist_ok=True)
    os.mkfifo(proxy_path(gsat))
    gsat.start(proxy_warning=3)
    job_id = gsat.qsub(gtransfer_job(gsat, "t.job"))
    assert gsat.wait_state(job_id, ("finished", "failed")) == "finished"
    assert gsat.attr(job_id, "job.proxyNotAfter") == ""
    assert gsat.run("gqstat", check=True).returncode == 0
    pid = gsat.controller_pid()
    os.kill(pid, 0)
    with open(os.path.join(gsat.g, "var", "log", "gsatlc.log")) as f:
        log = f.read()
    assert "not a regular file; its end of validity is not known" in log


def test_a_default_job_uses_the_proxy_of_the_controllers_environment(gsat):
    """gqsub passes no environment: a default job's X509_USER_PROXY is the
    controller's.  gqrls of an automatically held job queues it, and it is
    held again while the proxy has still ended."""
    path = str(gsat.tmp / "x509up_test")
    write_proxy(path, int(time.time()) - 60)
    gsat.env["X509_USER_PROXY"] = path
    gsat.start(proxy_recheck=0.2)
    job_id = gsat.qsub(gsat.job("plain.job", 'echo "$X509_USER_PROXY"\n'))
    gsat.wait_state(job_id, "held")
    assert gsat.attr(job_id, "job.proxyFile") == path
    gsat.run("gqrls", job_id, check=True)
    gsat.wait_for(lambda: gsat.attr(job_id, "job.proxyHold") and gsat.state(job_id) == "held",
                  what="the job held again")
    assert gsat.attr(job_id, "job.restarts") == "" and gsat.attr(job_id, "job.start") == ""  # never started
    write_proxy(path, int(time.time()) + 7200)
    assert gsat.wait_state(job_id, ("finished", "failed")) == "finished"
    assert gsat.attr(job_id, "job.stdout") == path
