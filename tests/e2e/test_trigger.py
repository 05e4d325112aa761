"""trigger (FEATURES.md §2): user-defined events from inside a job.

* ``trigger DATA_READY a b`` in a job runs ``G/services/onDATA_READY/svc``
  with ``GSAT_EVENT``, ``GSAT_EVENT_ARGS`` and the job's variables; every
  trigger is recorded in ``job.events`` and counted by ``gqstat -f``.
  Arguments with spaces, ``%``, ``;``, empty strings and non-ASCII arrive
  unchanged (joined by single spaces).
* ``trigger --wait`` returns after the services and fails if one failed;
  without ``--wait`` it returns 0 once they were started.
* Bad event names (path tricks, gsatellite's own events, empty, 65
  characters) are refused with 64, by the command and by the sputnik.
* Outside a job: 64 unless ``--job ID`` names a running job.
* 1,000 triggers in a loop: every service runs, no zombie is left under the
  sputnik or the controller, and the controller keeps answering.
"""

import os
import subprocess
import time

import pytest

ENDED = ("finished", "failed")


def _env_service(gsat, event, out):
    """A service that saves its environment (NUL separated) in ``out``/env.PID."""
    return gsat.service(event, "svc", 'env -0 > "%s/env.$$.tmp" && mv "%s/env.$$.tmp" "%s/env.$$"\n' % (out, out, out))


def _envs(out):
    found = []
    for name in sorted(os.listdir(out)):
        if name.startswith("env.") and not name.endswith(".tmp"):
            with open(os.path.join(out, name), "rb") as f:
                data = f.read()
            env = {}
            for entry in data.split(b"\0"):
                if entry:
                    key, _, value = entry.decode("utf-8", "surrogateescape").partition("=")
                    env[key] = value
            found.append(env)
    return found


def _gate(gsat, name):
    return 'while [ ! -e "%s" ]; do sleep 0.05; done\n' % os.path.join(gsat.jobs, name)


def _open_gate(gsat, name):
    with open(os.path.join(gsat.jobs, name), "w"):
        pass


def _read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def _outdir(gsat):
    out = str(gsat.tmp / "out")
    os.makedirs(out, exist_ok=True)
    return out


def _sputnik_box(gsat, job_id):
    return os.path.join(gsat.g, "mboxes", gsat.attr(job_id, "job.execHost"), "%s.inbox" % gsat.attr(job_id, "sputnik.pid"))


# -- services and records ----------------------------------------------------------------

def test_trigger_runs_user_service_with_job_environment(gsat):
    out = _outdir(gsat)
    _env_service(gsat, "DATA_READY", out)
    gsat.start()
    a = gsat.qsub(gsat.job("data.job", (
        "trigger DATA_READY a b; echo $? > rc1\n"
        "trigger NO_SERVICES_HERE; echo $? > rc2\n")))
    assert gsat.wait_state(a, ENDED) == "finished"
    tmp = os.path.join(gsat.job_dir(a), "jobtmp")
    assert (_read(os.path.join(tmp, "rc1")), _read(os.path.join(tmp, "rc2"))) == ("0", "0")
    gsat.wait_for(lambda: len(_envs(out)) == 1, what="the DATA_READY service")
    env = _envs(out)[0]
    assert env["GSAT_EVENT"] == "DATA_READY"
    assert env["GSAT_EVENT_ARGS"] == "a b"
    assert env["GSAT_O_JOBID"] == a
    assert env["GSAT_JOBNAME"] == "data.job"
    assert env["GSAT_O_WORKDIR"] == tmp
    assert env["GSAT_O_HOME"] == gsat.home
    lines = gsat.attr(a, "job.events").splitlines()
    assert len(lines) == 2
    stamp, rest = lines[0].split(" ", 1)
    assert stamp.isdigit() and abs(int(stamp) - time.time()) < 3600
    assert rest == "DATA_READY a b"
    assert lines[1].split(" ", 1)[1].strip() == "NO_SERVICES_HERE"
    p = gsat.run("gqstat", "-f", a, "-x", check=True)
    assert 'job.events="2"' in p.stdout


@pytest.mark.parametrize("args", [
    ["x y", "50%", "a;b", "", "%41", "ü€", "tab\there"],
    ["no\u00a0break", "vt\x0bx"],
    ["em\u2003space", "ideographic\u3000space"],
], ids=["ascii_specials", "latin1_whitespace", "wide_whitespace"])
def test_arguments_arrive_unchanged(gsat, args):
    out = _outdir(gsat)
    _env_service(gsat, "ARGS", out)
    gsat.start()
    quoted = " ".join("'%s'" % a for a in args)
    a = gsat.qsub(gsat.job("args.job", "trigger --wait ARGS %s; echo $? > rc\n" % quoted))
    assert gsat.wait_state(a, ENDED) == "finished"
    assert _read(os.path.join(gsat.job_dir(a), "jobtmp", "rc")) == "0"
    envs = _envs(out)
    assert len(envs) == 1
    assert envs[0]["GSAT_EVENT_ARGS"] == " ".join(args)


def test_trigger_wait_reports_service_failure(gsat):
    done = os.path.join(gsat.jobs, "good_done")
    gsat.service("GOOD", "svc", 'sleep 1; touch "%s"; exit 0\n' % done)
    gsat.service("BAD", "svc", "exit 1\n")
    gsat.service("MIXED", "ok", "exit 0\n")
    gsat.service("MIXED", "bad", "sleep 0.3; exit 2\n")
    gsat.start()
    a = gsat.qsub(gsat.job("wait.job", (
        "trigger --wait GOOD; echo $? > rc_good\n"
        # --wait returned after the service, so its file is already there.
        '[ -e "%s" ] && echo yes > seen_done\n'
        "trigger --wait BAD; echo $? > rc_bad\n"
        "trigger --wait MIXED; echo $? > rc_mixed\n"
        "trigger BAD; echo $? > rc_bad_nowait\n" % done)))
    assert gsat.wait_state(a, ENDED) == "finished"
    tmp = os.path.join(gsat.job_dir(a), "jobtmp")
    got = {n: _read(os.path.join(tmp, n)) for n in ("rc_good", "seen_done", "rc_bad", "rc_mixed", "rc_bad_nowait")}
    assert got["rc_good"] == "0"
    assert got["seen_done"] == "yes"
    assert got["rc_bad"] not in ("0", None)
    assert got["rc_mixed"] not in ("0", None)
    assert got["rc_bad_nowait"] == "0"
    assert len(gsat.attr(a, "job.events").splitlines()) == 4



def _supervised(gsat, job_id):
    """Wait until the job runs and its sputnik has taken it: running is
    written before, and until sputnik.pid is there ``trigger --job`` says
    the job has no supervisor (a test failed so once in a loaded CI run)."""
    gsat.wait_state(job_id, "running")
    gsat.wait_for(lambda: gsat.attr(job_id, "sputnik.pid").isdigit(), what="the job's sputnik")

# -- refusals ------------------------------------------------------------------------------

BAD_NAMES = ["../x", "x/y", "JOB_START", "JOB_TERMINATION", "", "A" * 65, "a b", "-", "ünï", "a;b"]


def test_bad_event_names_are_refused(gsat):
    gsat.start()
    a = gsat.qsub(gsat.job("long.job", _gate(gsat, "go")))
    _supervised(gsat, a)
    inside = dict(gsat.env, GSAT_O_JOBID=a)
    for name in BAD_NAMES:
        for argv, env in ((["trigger", "--job", a, "--", name], gsat.env), (["trigger", "--", name], inside)):
            p = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, cwd=gsat.jobs)
            assert p.returncode == 64, (name, p.returncode, p.stderr)
            assert p.stderr.startswith("trigger: "), (name, p.stderr)
    # The sputnik checks names itself, whoever writes into its box.
    box = _sputnik_box(gsat, a)
    for name in ("../x", "JOB_START", "A" * 65):
        p = gsat.run("sendcmd", "-c", "TRIGGER %s" % name, "-m", box, "--timeout", "30")
        assert p.returncode == 0
        assert p.stdout.startswith("trigger failed"), (name, p.stdout)
    assert gsat.attr(a, "job.events") == ""
    # 64 characters are still fine.
    p = gsat.run("trigger", "--job", a, "B" * 64)
    assert (p.returncode, p.stderr) == (0, "")
    assert gsat.attr(a, "job.events").split()[1:] == ["B" * 64]
    _open_gate(gsat, "go")
    gsat.wait_state(a, ENDED)


def test_outside_a_job_needs_job_option(gsat):
    out = _outdir(gsat)
    _env_service(gsat, "OUTSIDE", out)
    gsat.env.pop("GSAT_O_JOBID", None)
    gsat.start()
    a = gsat.qsub(gsat.job("long.job", _gate(gsat, "go")))
    _supervised(gsat, a)
    p = gsat.run("trigger", "OUTSIDE", "x")
    assert p.returncode == 64
    assert "--job" in p.stderr
    assert _envs(out) == []
    p = gsat.run("trigger", "--job", a, "OUTSIDE", "x")
    assert (p.returncode, p.stderr) == (0, "")
    gsat.wait_for(lambda: len(_envs(out)) == 1, what="the OUTSIDE service")
    env = _envs(out)[0]
    assert (env["GSAT_EVENT"], env["GSAT_EVENT_ARGS"], env["GSAT_O_JOBID"]) == ("OUTSIDE", "x", a)
    assert gsat.attr(a, "job.events").split(" ", 1)[1] == "OUTSIDE x"
    p = gsat.run("trigger", "--job", "99999", "OUTSIDE")
    assert p.returncode == 1
    assert "99999" in p.stderr
    _open_gate(gsat, "go")
    gsat.wait_state(a, ENDED)
    p = gsat.run("trigger", "--job", a, "OUTSIDE")
    assert p.returncode == 1
    assert "not running" in p.stderr


# -- many triggers -------------------------------------------------------------------------

def _stat(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return fields[0], int(fields[1])


def _running(pid):
    try:
        return _stat(pid)[0] != "Z"
    except OSError:
        return False


def _zombies(parents):
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            state, ppid = _stat(int(name))
        except (OSError, IndexError, ValueError):
            continue
        if state == "Z" and ppid in parents:
            found.append(int(name))
    return found


def _lines(path):
    try:
        with open(path) as f:
            return f.read().splitlines()
    except OSError:
        return []


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_thousand_triggers_leave_no_zombies_and_controller_answers(gsat):
    n = 1000
    ran = os.path.join(gsat.jobs, "ran")
    gsat.service("LOOP", "svc", 'echo "$GSAT_EVENT_ARGS" >> "%s"\n' % ran)
    gsat.start()
    loop_done = os.path.join(gsat.jobs, "loop_done")
    a = gsat.qsub(gsat.job("loop.job", (
        "for i in $(seq %d); do trigger LOOP $i || echo $i >> failures; done\n"
        'touch "%s"\n' % (n, loop_done)) + _gate(gsat, "go")))
    _supervised(gsat, a)
    controller = gsat.controller_pid()
    sputnik = int(gsat.attr(a, "sputnik.pid"))
    box = gsat.controller_box()
    pings, most_zombies = 0, 0
    while not os.path.exists(loop_done):
        # Generous bound: the question is whether the controller answers at
        # all while a job floods its sputnik, not how fast.
        p = gsat.run("sendcmd", "-c", "ALIVE?", "-m", box, "--timeout", "10", timeout=60)
        assert (p.returncode, p.stdout) == (0, "YES\n"), p.stderr
        pings += 1
        most_zombies = max(most_zombies, len(_zombies({controller, sputnik})))
        time.sleep(0.5)
    assert pings >= 1
    # A zombie lives only until the sputnik's next SIGCHLD; leaked ones would
    # pile up towards 1,000.
    assert most_zombies < 50
    gsat.wait_for(lambda: _zombies({controller, sputnik}) == [], timeout=30, what="no zombies after the loop")
    assert _lines(os.path.join(gsat.job_dir(a), "jobtmp", "failures")) == []
    assert len(gsat.attr(a, "job.events").splitlines()) == n
    gsat.wait_for(lambda: len(_lines(ran)) == n, timeout=60, what="all %d services" % n)
    assert sorted(int(x) for x in _lines(ran)) == list(range(1, n + 1))
    _open_gate(gsat, "go")
    assert gsat.wait_state(a, ENDED) == "finished"
    gsat.wait_for(lambda: not _running(sputnik), what="sputnik gone")
    gsat.wait_for(lambda: _zombies({controller, sputnik}) == [], timeout=30, what="no zombies after the job")
    p = gsat.run("gqstat", "-f", a, "-x", check=True)
    assert 'job.events="%d"' % n in p.stdout


def _waiting_trigger(gsat, service):
    """A job running until its gate opens, and ``trigger --wait`` of event
    SLOW (``service``) for it in the background: ``(job id, Popen)``."""
    gsat.service("SLOW", "svc", service)
    gsat.env.pop("GSAT_O_JOBID", None)
    gsat.start()
    a = gsat.qsub(gsat.job("long.job", _gate(gsat, "go")))
    _supervised(gsat, a)
    return a, subprocess.Popen(["trigger", "--wait", "--job", a, "SLOW"], env=gsat.env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _outcome(waiting, meanwhile, timeout):
    """``(exit value, stderr)`` of ``waiting`` once ``meanwhile()`` ran;
    killed (and reaped) if it does not end within ``timeout`` seconds."""
    try:
        meanwhile()
        _, err = waiting.communicate(timeout=timeout)
    finally:
        if waiting.poll() is None:
            waiting.kill()
            waiting.wait()
    return waiting.returncode, err


def test_trigger_wait_ends_when_its_sputnik_is_killed(gsat):
    """Broke: ``trigger --wait`` waited for ever once the sputnik running
    the services was killed with ``kill -9``: it took the sputnik's inbox,
    which such a death leaves behind, for the sputnik being alive."""
    started = os.path.join(gsat.jobs, "service-started")
    a, waiting = _waiting_trigger(gsat, 'touch "%s"; sleep 60\n' % started)

    def kill_sputnik():
        gsat.wait_for(lambda: os.path.exists(started), what="the service to start")
        os.kill(int(gsat.attr(a, "sputnik.pid")), 9)

    code, err = _outcome(waiting, kill_sputnik, 15)
    assert code == 69, err
    assert "went away without answering" in err and err.count("\n") == 1, err
    _open_gate(gsat, "go")


def test_trigger_wait_fails_at_once_when_no_sputnik_of_its_job_runs(gsat):
    """Found by a review: the controller and the job's sputnik killed with
    ``kill -9``, ``trigger --wait`` hung for good: the dead sputnik's inbox
    stays (no controller sweeps it), and only the inbox was looked at once
    sputnik.pid named no live process."""
    gsat.service("SLOW", "svc", "true\n")
    gsat.start()
    a = gsat.qsub(gsat.job("long.job", _gate(gsat, "go")))
    _supervised(gsat, a)
    ctl, spid = gsat.controller_pid(), int(gsat.attr(a, "sputnik.pid"))
    for pid in (ctl, spid):
        os.kill(pid, 9)
    gsat.wait_for(lambda: not any(os.path.exists("/proc/%d/stat" % p) and _read("/proc/%d/stat" % p).split()[2] != "Z"
                                  for p in (ctl, spid)), what="the controller and sputnik to die")
    assert os.path.isdir(_sputnik_box(gsat, a))  # left behind
    r = gsat.run("trigger", "--wait", "--job", a, "SLOW", timeout=20)
    assert r.returncode == 69, r.stderr
    assert "went away" in r.stderr and r.stderr.count("\n") == 1, r.stderr
    _open_gate(gsat, "go")


def test_trigger_wait_outlives_a_new_sputnik_of_its_job(gsat):
    """Held and released while a service of ``trigger --wait`` runs, the job
    gets a new sputnik; the one asked still runs the service and answers:
    the wait ends with the service (a first fix took the new sputnik.pid
    for the one asked being gone)."""
    started, done = os.path.join(gsat.jobs, "service-started"), os.path.join(gsat.jobs, "service-done")
    a, waiting = _waiting_trigger(gsat, 'touch "%s"; sleep 2; touch "%s"\n' % (started, done))
    first = gsat.attr(a, "sputnik.pid")

    def new_sputnik():
        gsat.wait_for(lambda: os.path.exists(started), what="the service to start")
        assert gsat.run("gqhold", a, timeout=30).returncode == 0
        assert gsat.run("gqrls", a, timeout=30).returncode == 0
        gsat.wait_for(lambda: gsat.attr(a, "sputnik.pid") not in ("", first), what="a new sputnik")

    assert _outcome(waiting, new_sputnik, 30) == (0, "")
    assert os.path.exists(done)
    _open_gate(gsat, "go")
