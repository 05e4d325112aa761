"""A hostile user and a failing machine against stage in/out, proxy expiry
and the several-hosts files (issues 15 and 17), with the real controller in
a temporary $HOME.

Every attack here was run by hand first; the ones that broke something
(named in each test) fail without their fix, the others guard what held.
Files the daemons read are planted as a user's shell would: a FIFO where a
file belongs, digits that are no ASCII digits, hard and symbolic links
made by the job itself, a message sent with shell tools.
"""

import os
import shlex
import subprocess
import sys
import threading
import time

import pytest

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, TESTS)

from proxy_kit import write_proxy  # noqa: E402

from e2e.test_protocol import classic  # noqa: E402
from e2e.test_staging import _read, _store, _write  # noqa: E402


def _one_line(p, code):
    """One clear line on stderr, no traceback, the documented exit code."""
    assert p.returncode == code, (p.returncode, p.stdout, p.stderr)
    assert p.stderr.count("\n") == 1 and "Traceback" not in p.stderr, p.stderr


def _alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


# -- stage out: what the job leaves behind ------------------------------------------------

def _stage_out_attack(gsat, body, name):
    """Run a job of ``body`` (``{secret}``: a private key, ``{private}``:
    its directory) that stages out ``name``; ``(job id, DEST directory)``."""
    private = gsat.tmp / "ssh"
    private.mkdir()
    secret = _write(private / "id_rsa", "PRIVATE KEY\n")
    dest = gsat.tmp / "dest"
    dest.mkdir()
    gsat.start()
    job = gsat.job("attack.job", body.format(secret=shlex.quote(secret), private=shlex.quote(str(private))))
    a = gsat.run("gqsub", "-O", "%s:%s/" % (name, dest), job, check=True).stdout.strip()
    assert gsat.run("gqwait", a).returncode == 0
    assert _read(secret) == "PRIVATE KEY\n"
    return a, dest


def test_a_hard_link_to_a_file_outside_is_not_staged_out(gsat):
    """Broke: ``ln ~/.ssh/id_rsa result`` had the key copied to DEST (the
    check against symbolic links let a hard link through)."""
    a, dest = _stage_out_attack(gsat, "ln {secret} result\n", "result")
    assert os.listdir(dest) == []
    assert "result has 2 hard links; only a file with one is copied" in gsat.attr(a, "job.stageOutError")


def test_a_working_directory_replaced_by_a_link_is_not_followed(gsat):
    """Broke: a job that renamed its working directory away and put a link
    to a private directory in its place had that directory's files copied."""
    a, dest = _stage_out_attack(gsat, "cd .. && mv jobtmp jobtmp.away && ln -s {private} jobtmp\n", "id_rsa")
    assert os.listdir(dest) == []
    assert "is no longer a directory of the job's own" in gsat.attr(a, "job.stageOutError")


def test_a_restart_does_not_place_inputs_through_a_linked_working_directory(gsat):
    """Broke: a gtransfer run that replaced its working directory with a
    link to ~/.ssh and asked for a restart had the next run's stage-in
    replace ~/.ssh/authorized_keys."""
    ssh = gsat.tmp / "ssh"
    ssh.mkdir()
    keys = _write(ssh / "authorized_keys", "ssh-ed25519 AAAA mine\n")
    planted = _write(gsat.tmp / "authorized_keys", "ssh-ed25519 BBBB attacker\n")
    gsat.start()
    job = gsat.job("rs.job", (
        "#GSAT -T gtransfer\n"
        # Its script goes along, or the controller finds it missing and
        # never starts the next run.
        "cp rs.job {0}/ && cd .. && mv jobtmp jobtmp.away && ln -s {0} jobtmp && exit 75\n".format(
            shlex.quote(str(ssh)))))
    a = gsat.run("gqsub", "-i", planted, job, check=True).stdout.strip()
    gsat.run("gqwait", a)
    assert gsat.state(a) == "failed"
    assert _read(keys) == "ssh-ed25519 AAAA mine\n"
    assert "no longer a directory of the job's own" in gsat.attr(a, "job.stderr")


def test_a_destination_in_the_store_is_refused(gsat):
    """Broke: ``-O r:~/.gsatellite/...`` added files to the store (a
    ``gsatlcPid.1``, a job-like name in ``gschedule/queued``, a claim);
    refused at submission, and at the end when a link made by the job
    leads there."""
    gsat.start()
    job = gsat.job("st.job", "echo r > r\nln -s %s %s/into\n" % (shlex.quote(gsat.g), shlex.quote(str(gsat.tmp))))
    before = _store(gsat)
    for dest in ("~/.gsatellite/gsatlc.claim.9", "%s/gschedule/queued/" % gsat.g, gsat.g):
        p = gsat.run("gqsub", "-O", "r:%s" % dest, job)
        _one_line(p, 1)
        assert "inside %s, which belongs to gsatellite" % gsat.g in p.stderr
        assert p.stderr.endswith("; nothing submitted.\n"), p.stderr
    p = gsat.run("gqsub", "-O", "r", job, cwd=os.path.join(gsat.g, "gschedule"))  # the default DEST
    _one_line(p, 1)
    assert _store(gsat) == before
    a = gsat.run("gqsub", "-O", "r:%s/into/" % gsat.tmp, job, check=True).stdout.strip()
    assert gsat.run("gqwait", a).returncode == 0
    assert not os.path.exists(os.path.join(gsat.g, "r"))
    assert "which belongs to gsatellite" in gsat.attr(a, "job.stageOutError")


def test_a_spool_replaced_by_a_link_is_not_cleaned(gsat):
    """Broke: with ``var/spool/stagein`` a link to a directory of the user's,
    a controller start removed everything older than an hour there (it
    cleans the uploads of gqsubs that died), and a QSUB made by hand with
    ``-i=thesis`` moved ~/thesis into the job and, refused, removed it."""
    mine = gsat.tmp / "mine"
    (mine / "thesis").mkdir(parents=True)
    _write(mine / "thesis" / "ch1.tex", "years of work\n")
    old = time.time() - 7200
    os.utime(str(mine / "thesis"), (old, old))
    os.makedirs(os.path.join(gsat.g, "var", "spool"))
    os.symlink(str(mine), os.path.join(gsat.g, "var", "spool", "stagein"))
    gsat.start()
    assert _read(mine / "thesis" / "ch1.tex") == "years of work\n"
    # Nor is a directory there taken (and, refused, removed) as an upload.
    job = gsat.job("t.job", "true\n")
    box, pid = gsat.controller_box(), gsat.controller_pid()
    assert classic(gsat, box, "QSUB -i=thesis -- %s" % job, pid) == "qsub failed;%s" % box
    assert _read(mine / "thesis" / "ch1.tex") == "years of work\n"


def test_hand_made_stage_in_tokens_take_nothing(gsat):
    """Held: a QSUB sent with shell tools whose -i token climbs out of the
    spool, names a link in it, or names a directory holding a link; and
    (broke, fixed with the stage-out DEST check) one whose -O DEST is in
    the store."""
    outside = gsat.tmp / "outside"
    outside.mkdir()
    _write(outside / "f", "outside\n")
    gsat.start()
    spool = os.path.join(gsat.g, "var", "spool", "stagein")
    os.makedirs(spool, exist_ok=True)
    os.symlink(str(outside), os.path.join(spool, "link1"))
    os.mkdir(os.path.join(spool, "dir1"))
    os.symlink(str(outside / "f"), os.path.join(spool, "dir1", "f"))
    job = gsat.job("t.job", "true\n")
    pid, box = gsat.controller_pid(), gsat.controller_box()
    for token in ("..%2F..%2F..%2Foutside", "..", ".", "%2Ftmp", "link1", "dir1", "a%0ab", "x" * 65):
        answer = classic(gsat, box, "QSUB -i=%s -- %s" % (token, job), pid)
        assert answer == "qsub failed;%s" % box, token
    # The controller checks a hand-made -O as gqsub does: nothing into the store.
    answer = classic(gsat, box, "QSUB -O=r:%s/gschedule/queued/00042 -- %s" % (gsat.g, job), pid)
    assert answer == "qsub failed;%s" % box
    assert sorted(os.listdir(outside)) == ["f"] and _read(outside / "f") == "outside\n"
    assert os.listdir(os.path.join(gsat.g, "gschedule", "jobs")) == []
    assert _alive(pid)
    assert gsat.wait_state(gsat.qsub(job), ("finished", "failed")) == "finished"


# -- several hosts: files in the shared store ----------------------------------------------

def _start_ok(gsat):
    p = gsat.run("gsatlcd", "--start", timeout=40)
    assert p.returncode == 0 and "Traceback" not in p.stderr, (p.stdout, p.stderr, _log_tail(gsat))
    assert gsat.run("gsatlcd", "--status").returncode == 0


def _log_tail(gsat):
    try:
        return _read(os.path.join(gsat.g, "var", "log", "gsatlc.log"))[-2000:]
    except OSError:
        return ""


def test_a_claim_named_with_other_digits_does_not_crash_the_controller(gsat):
    """Broke: ``gsatlc.claim.²`` (a digit to str.isdigit(), not to int())
    ended every controller start with a ValueError."""
    os.makedirs(gsat.g)
    open(os.path.join(gsat.g, "gsatlc.claim.\u00b2"), "w").close()
    _start_ok(gsat)


def test_a_claim_with_other_digits_in_it_does_not_crash_the_controller(gsat):
    """Broke: the same inside a claim (``HOST ²³ 5 BOOT``)."""
    os.makedirs(gsat.g)
    _write(os.path.join(gsat.g, "gsatlc.claim.7"), "otherhost \u00b2\u00b3 5 boot\n")
    _start_ok(gsat)


def test_a_fifo_as_claim_does_not_block_the_controller(gsat):
    """Broke: gsatlc hung for ever opening a FIFO planted as the claim."""
    os.makedirs(gsat.g)
    os.mkfifo(os.path.join(gsat.g, "gsatlc.claim.8"))
    _start_ok(gsat)
    assert not os.path.exists(os.path.join(gsat.g, "gsatlc.claim.8"))  # taken over


def test_claims_numbered_too_high(gsat):
    """Broke: after a planted claim of 18 nines the winner's claim of 19
    digits went unseen by the next taker (unit test_claim), and a claim
    whose successor's name is too long for the file system said 'gsatlc
    is running on another host as PID 0'.  Now the first is taken over and
    counted, the second named with the reason (exit 79)."""
    os.makedirs(gsat.g)
    nines = os.path.join(gsat.g, "gsatlc.claim." + "9" * 242)
    _write(nines, "garbage\n")
    p = gsat.run("gsatlcd", "--start", timeout=40)
    assert p.returncode == 79 and p.stderr.count("\n") == 1, p.stderr
    assert p.stderr.endswith("gsatlc.claim.1%s: File name too long\n" % ("0" * 242)), p.stderr
    os.unlink(nines)
    _write(os.path.join(gsat.g, "gsatlc.claim." + "9" * 18), "garbage\n")
    _start_ok(gsat)
    assert [n for n in os.listdir(gsat.g) if n.startswith("gsatlc.claim.")] == ["gsatlc.claim.1" + "0" * 18]


def test_a_claim_naming_pid_1_or_a_live_stranger(gsat):
    """Held: a claim naming PID 1 (wrong start time) is stale and taken over;
    one naming our own live process exactly (start time, boot) keeps
    gsatlc out with one line, and that process is never signalled."""
    sys.path.insert(0, os.path.join(os.path.dirname(TESTS), "lib"))
    from gsatellite import pidref

    os.makedirs(gsat.g)
    host = subprocess.run(["python3", "-c", "import sys; sys.path.insert(0, sys.argv[1]); "
                           "from gsatellite import paths; print(paths.hostname())",
                           os.path.join(os.path.dirname(TESTS), "lib")],
                          env=gsat.env, capture_output=True, text=True, check=True).stdout.strip()
    claim = os.path.join(gsat.g, "gsatlc.claim.3")
    _write(claim, "%s 1 1 %s\n" % (host, pidref.boot_id()))
    _start_ok(gsat)
    gsat.stop()
    me = os.getpid()
    for name in os.listdir(gsat.g):
        if name.startswith("gsatlc.claim."):
            os.unlink(os.path.join(gsat.g, name))
    _write(claim, "%s %d %d %s\n" % (host, me, pidref.start_time(me), pidref.boot_id()))
    p = gsat.run("gsatlcd", "--start", timeout=40)
    assert p.returncode != 0 and "Traceback" not in p.stderr
    assert "gsatlc is running on %s as PID %d" % (host, me) in p.stderr, p.stderr
    assert _alive(me)


def test_garbage_in_gsatlc_pid_gives_one_line(gsat):
    """Broke: ``gsatlcPid`` holding ``²`` and a host name of another host
    made gqsub, gsatlcd --status/--stop/--watch end in a traceback."""
    job = gsat.job("t.job", "true\n")
    os.makedirs(gsat.g)
    _write(os.path.join(gsat.g, "gsatlcHostName"), "otherhost\n")
    for pid in ("\u00b2", "0"):
        for argv in (["gsatlcd", "--status"], ["gsatlcd", "--stop"]):
            _write(os.path.join(gsat.g, "gsatlcPid"), pid + "\n")
            p = gsat.run(*argv, timeout=30)
            assert p.returncode == 1 and "Traceback" not in p.stderr, (argv, p.stderr)
    _write(os.path.join(gsat.g, "gsatlcPid"), "\u00b2\n")
    p = gsat.run("gqsub", job, timeout=60)  # may start a controller here: the file names none
    assert "Traceback" not in p.stderr and p.stderr.count("\n") <= 1, p.stderr
    gsat.stop()
    # --watch: sees no controller and starts one here, and goes on watching.
    _write(os.path.join(gsat.g, "gsatlcPid"), "\u00b2\n")
    with open(str(gsat.tmp / "watch.err"), "w") as err:
        w = subprocess.Popen(["gsatlcd", "--watch"], env=gsat.env, stdout=subprocess.DEVNULL, stderr=err)
    try:
        gsat.wait_for(lambda: gsat.run("gsatlcd", "--status").returncode == 0, timeout=40, what="--watch to start one")
        assert w.poll() is None
    finally:
        w.kill()
        w.wait()
    assert "Traceback" not in _read(gsat.tmp / "watch.err")


def test_a_forwarder_pid_file_naming_a_stranger(gsat, procs):
    """Broke: ``sigfwd.pid`` overwritten with the PID of another process of
    ours made the controller's healing start a second forwarder, which
    passed by the lock the first still held; the two fought over the alias
    every beat and the first was left running after gsatlcd --stop.  Now
    the live forwarder writes its PID file again, a second one sees the
    lock's live holder and exits, and the stranger is never signalled."""
    gsat.start()
    run = os.path.join(gsat.g, "var", "run", gsat.host())
    pid_file = os.path.join(run, "sigfwd.pid")
    real = int(_read(pid_file))
    stranger = subprocess.Popen(["sleep", "1000"])
    procs.append(stranger)
    gsat.wait_for(lambda: time.time() - os.stat("/proc/%d" % stranger.pid).st_ctime > 1.6, what="an older stranger")
    os.unlink(pid_file + ".start")
    _write(pid_file + ".tmp", "%d\n" % stranger.pid)
    os.rename(pid_file + ".tmp", pid_file)
    log = os.path.join(gsat.g, "var", "log", gsat.host(), "sigfwd.log")
    gsat.wait_for(lambda: "no longer names this forwarder; writing it again" in _read(log), what="the repair")
    gsat.wait_for(lambda: _read(pid_file).strip() == str(real), what="sigfwd.pid to name the forwarder again")
    job = gsat.qsub(gsat.job("t.job", "true\n"))
    assert gsat.run("gqwait", job).returncode == 0
    started = [int(line.split("sigfwd[", 1)[1].split("]", 1)[0]) for line in _read(log).splitlines()
               if "]: started; box " in line]
    gsat.stop()
    gsat.wait_for(lambda: not any(_alive(pid) for pid in started), timeout=15, what="every forwarder to stop")
    assert stranger.poll() is None
    assert "Traceback" not in _read(log)


def test_a_fifo_as_heartbeat_does_not_block_a_client(gsat):
    """Broke: a request to a silent controller of another host whose
    heartbeat was a FIFO hung gqsub for ever (reading the heartbeat to say
    how long the host has been silent)."""
    job = gsat.job("t.job", "true\n")
    os.makedirs(os.path.join(gsat.g, "var", "run", "otherhost"))
    os.makedirs(os.path.join(gsat.g, "mboxes", "otherhost", "12.inbox"))
    os.mkfifo(os.path.join(gsat.g, "var", "run", "otherhost", "heartbeat"))
    _write(os.path.join(gsat.g, "gsatlcHostName"), "otherhost\n")
    _write(os.path.join(gsat.g, "gsatlcPid"), "12\n")
    p = gsat.run("gqsub", job, timeout=60)
    _one_line(p, 69)
    assert "gsatlc (PID 12 on otherhost)" in p.stderr and p.stderr.endswith("not submitted.\n"), p.stderr


# -- proxies ---------------------------------------------------------------------------------------

def test_hostile_proxy_files_after_submission(gsat):
    """Held: a proxy that ends in 9998 is watched without a timer that
    overflows; one replaced by a link to /dev/zero or a FIFO while its job
    waits, or renewed hundreds of times a second, blocks nothing; the job
    held for an ended proxy is queued again once, when a good one is back."""
    tmp = str(gsat.tmp)
    # 9998-12-30: the kit's user certificate lasts a year longer, which 9999 has not.
    far_end = 253402300799 - 366 * 86400
    far = write_proxy(os.path.join(tmp, "far", "x509up"), far_end)
    swapped = write_proxy(os.path.join(tmp, "swap", "x509up"), 1000)  # ended in 1970
    gsat.start(proxy_margin=60, proxy_recheck=0.2)
    a = gsat.qsub("--proxy", far, gsat.job("far.job", "true\n"))
    assert gsat.wait_state(a, ("finished", "failed")) == "finished"
    assert gsat.attr(a, "job.proxyNotAfter") == str(far_end)
    b = gsat.qsub("--proxy", swapped, gsat.job("swap.job", "true\n"))
    gsat.wait_state(b, "held")
    os.unlink(swapped)
    os.symlink("/dev/zero", swapped)
    assert gsat.qsub(gsat.job("plain1.job", "true\n"))
    os.unlink(swapped)
    os.mkfifo(swapped)
    assert gsat.qsub(gsat.job("plain2.job", "true\n"))
    assert gsat.state(b) == "held"
    os.unlink(swapped)
    stop = threading.Event()

    def renew():
        n = 0
        while not stop.is_set():
            write_proxy(swapped, int(time.time()) + 7200 + n % 2)
            n += 1

    t = threading.Thread(target=renew)
    t.start()
    try:
        assert gsat.wait_state(b, ("finished", "failed")) == "finished"
        c = gsat.qsub(gsat.job("plain3.job", "true\n"))
        assert gsat.wait_state(c, ("finished", "failed")) == "finished"
    finally:
        stop.set()
        t.join()
    assert _read(os.path.join(gsat.job_dir(b), "job.start")).count("\n") == 1  # run once
    assert "Traceback" not in _log_tail(gsat)


def test_fifos_as_job_pid_or_copy_block_no_daemon(gsat):
    """Broke: gsatlc hung for ever when it started a job whose job.pid was
    a FIFO (it looks for processes of an earlier run before each start, and
    read PID files with a blocking open).  A FIFO as a queued job's copy
    fails its start (the sputnik's own open of it: unit test_sputnik)."""
    gsat.start()
    busy = gsat.qsub(gsat.job("busy.job", "exec sleep 300\n"))
    gsat.wait_state(busy, ("running",))
    planted = gsat.qsub(gsat.job("planted.job", "true\n"))
    for name in ("job.pid", "job.pid.start", "sputnik.pid"):
        os.mkfifo(os.path.join(gsat.job_dir(planted), name))
    copy = gsat.qsub(gsat.job("copy.job", "true\n"))
    path = os.readlink(os.path.join(gsat.job_dir(copy), copy))
    os.unlink(path)
    os.mkfifo(path)
    assert gsat.run("gqsig", "-s", "KILL", busy).returncode == 0  # the slot frees: the planted jobs start
    assert gsat.wait_state(planted, ("finished", "failed")) == "finished"
    # A FIFO as the job's copy: the start fails, nothing hangs.
    assert gsat.wait_state(copy, ("finished", "failed")) == "failed"
    assert _read(os.path.join(gsat.job_dir(copy), "job.exit")).strip() == "127"
    assert gsat.run("gsatlcd", "--status", timeout=10).returncode == 0
    assert gsat.run("gqstat", timeout=10).returncode == 0


@pytest.mark.slow
def test_fifos_as_files_a_daemon_appends_to_block_no_daemon(gsat):
    """Broke: a sputnik hung for ever appending to a FIFO planted as a
    queued job's job.start (the start of every run is recorded there), and
    as a running job's job.stop (its end); the slot stayed taken and the
    queue stalled.  Now the start fails (127) and the end is recorded once
    the FIFO is gone (the sputnik tries again); the queue goes on."""
    gsat.start()
    fifo_start = gsat.qsub(gsat.job("start.job", "true\n"))
    os.mkfifo(os.path.join(gsat.job_dir(fifo_start), "job.start"))
    assert gsat.wait_state(fifo_start, ("finished", "failed")) == "failed"
    assert _read(os.path.join(gsat.job_dir(fifo_start), "job.exit")).strip() == "127"

    marker = gsat.tmp / "ended"
    stop = gsat.qsub(gsat.job("stop.job", "sleep 1; touch %s\n" % shlex.quote(str(marker))))
    gsat.wait_state(stop, ("running",))
    os.mkfifo(os.path.join(gsat.job_dir(stop), "job.stop"))
    gsat.wait_for(lambda: marker.exists(), what="the job's own end")
    after = gsat.qsub(gsat.job("after.job", "true\n"))  # the controller answers
    assert gsat.run("gsatlcd", "--status", timeout=10).returncode == 0
    sputnik = int(_read(os.path.join(gsat.job_dir(stop), "sputnik.pid")))
    gsat.wait_for(lambda: "cannot record the end" in _read(os.path.join(gsat.job_dir(stop), "sputnik.log")),
                  what="the sputnik to find job.stop unwritable")
    assert gsat.state(stop) == "running" and _alive(sputnik)
    os.unlink(os.path.join(gsat.job_dir(stop), "job.stop"))
    assert gsat.wait_state(stop, ("finished", "failed"), timeout=40) == "finished"
    assert gsat.wait_state(after, ("finished", "failed")) == "finished"


def test_logs_linked_to_dev_null_are_written(gsat):
    """Silencing a daemon's log the usual way, a link to /dev/null, keeps
    it working (a first version of the FIFO check refused all but regular
    files: gsatlc did not start, the forwarder never)."""
    log_dir = os.path.join(gsat.g, "var", "log")
    os.makedirs(os.path.join(log_dir, gsat.env.get("GSAT_HOSTNAME") or os.uname().nodename))
    os.symlink(os.devnull, os.path.join(log_dir, "gsatlc.log"))
    os.symlink(os.devnull, os.path.join(log_dir, gsat.env.get("GSAT_HOSTNAME") or os.uname().nodename, "sigfwd.log"))
    _start_ok(gsat)
    assert gsat.wait_state(gsat.qsub(gsat.job("t.job", "true\n")), ("finished", "failed")) == "finished"
    gsat.wait_for(lambda: _read(os.path.join(gsat.g, "var", "run", gsat.host(), "sigfwd.pid")).strip().isdigit(),
                  what="the signal forwarder")


def test_a_start_clears_write_tests_that_killed_starts_left(gsat):
    """kill -9 of gsatlc between its write test's creation and removal left
    a hidden file in ~/.gsatellite for ever; the next start removes one that
    is an hour old."""
    os.makedirs(gsat.g, exist_ok=True)
    left = os.path.join(gsat.g, ".write-test.4242.abcdefgh")
    with open(left, "w"):
        pass
    then = time.time() - 7200
    os.utime(left, (then, then))
    gsat.start()
    assert not os.path.lexists(left)
    assert not [n for n in os.listdir(gsat.g) if n.startswith(".write-test.")]


def test_a_link_planted_in_queued_does_not_run_a_finished_job_again(gsat):
    """Found by a review: a link left in gschedule/queued for a finished job
    (another writer: a controller taken for lost that went on for a moment,
    a hand edit) ran the job again, at every end of a run with a change that
    removed only the old state's link.  job.state decides; the link goes."""
    gsat.start()
    a = gsat.qsub(gsat.job("once.job", "exit 0\n"))
    assert gsat.run("gqwait", a).returncode == 0
    os.symlink(gsat.job_dir(a), os.path.join(gsat.g, "gschedule", "queued", a + ".d"))
    b = gsat.qsub(gsat.job("next.job", "exit 0\n"))
    assert gsat.run("gqwait", b).returncode == 0
    with open(os.path.join(gsat.job_dir(a), "job.start")) as f:
        assert len(f.read().split()) == 1
    assert [s for s in ("queued", "running", "held", "finished", "failed") if os.path.lexists(
        os.path.join(gsat.g, "gschedule", s, a + ".d"))] == ["finished"]
    assert "job %s: in queued/ but its job.state says finished" % a in \
        open(os.path.join(gsat.g, "var", "log", "gsatlc.log")).read()
