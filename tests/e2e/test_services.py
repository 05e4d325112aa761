"""Events and services (PROTOCOL.md §6): what a service and a job see, and
services that misbehave.

* A user service in ``G/services/onEVENT/`` gets every ``GSAT_*`` variable
  exactly, even when the job file's name and the controller's PATH hold
  characters a shell treats specially (``"``, ``$``, backquote, ``\\``,
  space, non-ASCII, newline); the job itself sees the same values.
* A bash service may call the classic helper ``__getEmailAddress``; it
  prints the whole of ``$_notificationEmailAddress`` (exported, as the
  classic run-services did), else the login name.
* A service that hangs, crashes or kills itself does not hold up the next
  job; a world-writable one, or one writable by a group with other members,
  is refused (logged in gsatlc.log) and a non-executable one is skipped.  The hanging services record their PIDs
  and are killed by PID at the end, whatever happened.
"""

import os
import pwd
import shlex
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import usergroups  # noqa: E402

ENDED = ("finished", "failed")
EVENTS = ("JOB_START", "JOB_TERMINATION")



def _read_env0(path):
    with open(path, "rb") as f:
        data = f.read()
    env = {}
    for entry in data.split(b"\0"):
        if entry:
            name, _, value = entry.decode("utf-8", "surrogateescape").partition("=")
            env[name] = value
    return env


def _gsat_vars(gsat, env):
    """The GSAT_* variables, without the settings the test passed to the
    controller through its own environment (GSAT_SMTP_PORT and the like)."""
    return {k: v for k, v in env.items() if k.startswith("GSAT_") and k not in gsat.env}


def _wait_file(gsat, path, timeout=30):
    gsat.wait_for(lambda: os.path.exists(path), timeout=timeout, what=path)
    return path


def test_service_and_job_environment_with_hostile_values(gsat):
    out = str(gsat.tmp / "out")
    os.makedirs(out)
    hostile_dir = '/nonexistent/q"uote $HOME `id` back\\slash sp ace ü€'
    newline_dir = "/nonexistent/new\nline"
    path = os.pathsep.join([hostile_dir, gsat.env["PATH"], newline_dir])
    gsat.env["PATH"] = path
    # The login name must come from the user database, not from these.
    gsat.env["USER"] = ""
    gsat.env["LOGNAME"] = "not-the-login-name"
    for event in EVENTS:
        gsat.service(event, "record", (
            'f=%s/"$GSAT_EVENT"\n'
            'env -0 > "$f.tmp" && mv "$f.tmp" "$f.env"\n' % shlex.quote(out)))
    gsat.start()
    name = 'we"ird $HOME `id` back\\slash ü.job'
    job = gsat.job(name, 'env -0 > %s/job.tmp && mv %s/job.tmp %s/job.env\nexit 7\n' % ((shlex.quote(out),) * 3))
    a = gsat.qsub(job)
    assert gsat.wait_state(a, ENDED) == "failed"
    expected = {
        "GSAT_JOBNAME": name,
        "GSAT_O_WORKDIR": os.path.join(gsat.job_dir(a), "jobtmp"),
        "GSAT_O_HOME": gsat.home,
        "GSAT_O_LOGNAME": pwd.getpwuid(os.getuid()).pw_name,
        "GSAT_O_JOBID": a,
        "GSAT_O_HOST": gsat.host(),
        "GSAT_O_PATH": path,
    }
    job_env = _read_env0(_wait_file(gsat, os.path.join(out, "job.env")))
    assert _gsat_vars(gsat, job_env) == expected
    assert job_env["PATH"] == path
    start_env = _read_env0(_wait_file(gsat, os.path.join(out, "JOB_START.env")))
    assert _gsat_vars(gsat, start_env) == dict(expected, GSAT_EVENT="JOB_START")
    end_env = _read_env0(_wait_file(gsat, os.path.join(out, "JOB_TERMINATION.env")))
    assert _gsat_vars(gsat, end_env) == dict(expected, GSAT_EVENT="JOB_TERMINATION", GSAT_JOB_EXIT_VALUE="7")


def test_get_email_address_helper(gsat):
    out = str(gsat.tmp / "out")
    os.makedirs(out)
    gsat.service("JOB_START", "address", (
        'f=%s/"$GSAT_O_JOBID"\n'
        '{ echo "$_notificationEmailAddress"; __getEmailAddress; } > "$f.tmp" && mv "$f.tmp" "$f"\n'
        % shlex.quote(out)))
    gsat.start()
    job = gsat.job("a.job", "true\n")
    a = gsat.qsub(job)
    with open(_wait_file(gsat, os.path.join(out, a))) as f:
        assert f.read() == "%s/myEmailAddress\n%s\n" % (gsat.g, pwd.getpwuid(os.getuid()).pw_name)
    with open(os.path.join(gsat.g, "myEmailAddress"), "w") as f:
        f.write("me@example.org\nsomeone@else.org\n")
    b = gsat.qsub(job)
    with open(_wait_file(gsat, os.path.join(out, b))) as f:
        # The whole file, as the classic helper's `cat` printed it.
        assert f.read() == "%s/myEmailAddress\nme@example.org\nsomeone@else.org\n" % gsat.g


def _proc_cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().split(b"\0")
    except OSError:
        return None


def test_misbehaving_services_do_not_hold_up_jobs(gsat):
    out = str(gsat.tmp / "out")
    os.makedirs(out)
    pids_file = os.path.join(out, "hanging.pids")
    q = shlex.quote(out)
    # A group with another member may write e_group: refused.  Where there
    # is no such group, e_group's group is private and it runs.
    shared = usergroups.shared_group()
    for event in EVENTS:
        # exec: the recorded PID is the sleeping process itself.
        gsat.service(event, "a_hang", "echo $$ >> %s\nexec sleep 1000\n" % shlex.quote(pids_file))
        gsat.service(event, "b_crash", "exit 1\n")
        gsat.service(event, "c_kill", "kill -KILL $$\n")
        gsat.service(event, "d_world", 'touch %s/world."$GSAT_EVENT.$GSAT_O_JOBID"\n' % q, mode=0o777)
        group = gsat.service(event, "e_group", 'touch %s/group."$GSAT_EVENT.$GSAT_O_JOBID"\n' % q, mode=0o770)
        if shared is not None:
            os.chown(group, -1, shared)
        gsat.service(event, "f_noexec", 'touch %s/noexec."$GSAT_EVENT.$GSAT_O_JOBID"\n' % q, mode=0o600)
        # Sorted last, so once it ran the earlier entries were dealt with.
        gsat.service(event, "zz_good", 'touch %s/good."$GSAT_EVENT.$GSAT_O_JOBID"\n' % q)
    jobs = [gsat.job("j%d.job" % i, "true\n") for i in range(3)]
    try:
        gsat.start()
        ids = gsat.run("gqsub", *jobs, check=True).stdout.split()
        for job_id in ids:
            assert gsat.wait_state(job_id, ENDED) == "finished"
        for job_id in ids:
            for event in EVENTS:
                _wait_file(gsat, os.path.join(out, "good.%s.%s" % (event, job_id)))
        for i in range(1, len(ids)):
            # Generous: the hanging service sleeps 1000 s.
            assert int(gsat.attr(ids[i], "job.start")) - int(gsat.attr(ids[i - 1], "job.stop")) < 20
        kinds = ("world", "group", "noexec") if shared is not None else ("world", "noexec")
        left = sorted(n for n in os.listdir(out) if n.split(".")[0] in kinds)
        assert left == []
        with open(os.path.join(gsat.g, "var", "log", "gsatlc.log"), errors="replace") as f:
            log = f.read()
        refused = [line for line in log.splitlines() if "refused" in line]
        assert len([line for line in refused if "d_world" in line]) == 2 * len(ids)
        assert len([line for line in refused if "e_group" in line]) == (2 * len(ids) if shared is not None else 0)
        assert not [line for line in refused if "f_noexec" in line or "zz_good" in line]
        gsat.wait_for(lambda: len(_hanging(pids_file)) == 2 * len(ids), what="all hanging services")
    finally:
        # No controller, no new events: then every hanging service that will
        # ever exist has recorded itself (or is about to).
        gsat.cleanup()
        _kill_hanging(pids_file)


def _hanging(pids_file):
    try:
        with open(pids_file) as f:
            return [int(p) for p in f.read().split()]
    except (OSError, ValueError):
        return []


def _kill_hanging(pids_file):
    # Give services started just now a moment to record themselves.
    time.sleep(0.2)
    for pid in _hanging(pids_file):
        # Only our sleeper, never a process that reused the PID.
        if _proc_cmdline(pid) and _proc_cmdline(pid)[:2] == [b"sleep", b"1000"]:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
