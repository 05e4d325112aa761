"""The classic message-box protocol, spoken across old and new tools.

Two directions:

* a classic client, emulated with shell tools only
  (``classic_client/classic_request.sh``: mktemp, mv, kill -CONT, ls -c,
  cat), talks to our gsatlc (standard commands, STOP) and to our sigfwd
  through its ``sigfwd.inbox`` alias, which it must poll (no SIGCONT);
* our ``sendcmd`` talks to a classic receiver
  (``classic_client/classic_receiver.sh``) that only polls its box and
  never sends signals.
"""

import os
import signal
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
CLASSIC_REQUEST = os.path.join(HERE, "classic_client", "classic_request.sh")
CLASSIC_RECEIVER = os.path.join(HERE, "classic_client", "classic_receiver.sh")


def _proc_state(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


def classic(gsat, target, command, pid=None, timeout=20):
    """One classic request; returns the reply line ``ANSWER;SENDERBOX``."""
    hostboxdir = os.path.join(gsat.g, "mboxes", gsat.host())
    p = gsat.run(
        CLASSIC_REQUEST, hostboxdir, target, command,
        "-" if pid is None else str(pid), str(timeout), timeout=timeout + 10,
    )
    assert p.returncode == 0, "classic request %r failed (%d): %s" % (command, p.returncode, p.stderr)
    assert p.stdout.endswith("\n") and p.stdout.count("\n") == 1, repr(p.stdout)
    return p.stdout[:-1]


def leftover_temp_boxes(gsat):
    d = os.path.join(gsat.g, "mboxes", gsat.host())
    # Temporary classic boxes: 8 random characters + ".inbox" (no PID).
    return [n for n in os.listdir(d) if n.endswith(".inbox") and not n.split(".")[0].isdigit()
            and n != "sigfwd.inbox"]


# -- classic client -> our gsatlc ------------------------------------------------

def test_classic_client_standard_commands_to_gsatlc(gsat):
    gsat.start()
    pid = gsat.controller_pid()
    box = gsat.controller_box()
    assert classic(gsat, box, "ALIVE?", pid) == "YES;%s" % box
    assert classic(gsat, box, "PID?", pid) == "%d;%s" % (pid, box)
    assert classic(gsat, box, "HOST?", pid) == "%s;%s" % (gsat.host(), box)
    assert classic(gsat, box, "FROBNICATE now", pid) == "UNKNOWN COMMAND;%s" % box
    assert classic(gsat, box, "alive?", pid) == "UNKNOWN COMMAND;%s" % box
    # The classic client removes its temporary answer boxes; nothing else
    # may have been left behind in the controller's box either.
    assert leftover_temp_boxes(gsat) == []
    assert os.listdir(box) == []


def test_classic_client_stop_makes_gsatlc_exit_and_clean_up(gsat):
    gsat.start()
    pid = gsat.controller_pid()
    box = gsat.controller_box()
    sigfwd_pid_file = os.path.join(gsat.g, "var", "run", gsat.host(), "sigfwd.pid")
    with open(sigfwd_pid_file) as f:
        sigfwd_pid = int(f.read())
    assert classic(gsat, box, "STOP", pid) == "STOPPING;%s" % box
    gsat.wait_for(lambda: _proc_state(pid) in (None, "Z"), timeout=15, what="gsatlc to exit")
    assert not os.path.exists(os.path.join(gsat.g, "gsatlcPid"))
    assert not os.path.exists(os.path.join(gsat.g, "gsatlcHostName"))
    assert not os.path.exists(box)
    # gsatlc stops its host's signal forwarder on the way out.
    gsat.wait_for(lambda: _proc_state(sigfwd_pid) in (None, "Z"), timeout=15, what="sigfwd to exit")
    assert gsat.run("gsatlcd", "--status").returncode == 1


# -- classic client -> our sigfwd (polled, never signalled) ------------------------

def _sigfwd(gsat):
    alias = os.path.join(gsat.g, "mboxes", gsat.host(), "sigfwd.inbox")
    assert os.path.islink(alias)
    target = os.readlink(alias)
    assert "/" not in target, "alias must name the real box relative, got %r" % target
    return alias, os.path.join(os.path.dirname(alias), target)


def test_classic_client_sigcont_forwarding_through_sigfwd_alias(gsat):
    gsat.start()
    alias, real = _sigfwd(gsat)
    # The classic tools forward SIGCONT to a controller or a sputnik: here
    # the controller, stopped so that the SIGCONT shows.
    victim = gsat.controller_pid()
    try:
        os.kill(victim, signal.SIGSTOP)
        gsat.wait_for(lambda: _proc_state(victim) == "T", what="the controller to stop")
        # No pid argument: the classic client sends no SIGCONT to the
        # forwarder, so the answer proves that it polls its box.
        assert classic(gsat, alias, "SIGCONT %d" % victim) == "0;%s" % real
        gsat.wait_for(lambda: _proc_state(victim) in ("S", "R"), what="forwarded SIGCONT to resume the controller")

        dead = subprocess.Popen(["true"])
        dead.wait()
        reply = classic(gsat, alias, "SIGCONT %d" % dead.pid)
        code, box = reply.split(";")
        assert box == real
        assert code.isdigit() and code != "0", reply
        assert classic(gsat, alias, "ALIVE?") == "YES;%s" % real
    finally:
        os.kill(victim, signal.SIGCONT)


def test_sigfwd_on_a_local_file_system_is_woken_by_the_message_itself(gsat):
    """Where the kernel sees every entry made in the forwarder's box (a file
    system of this host alone), a message published with no signal, as a
    remote or classic sender publishes it, wakes the forwarder: it does not
    wait for its poll.  The forwarder runs alone, so the host's heartbeat
    is touched by its timer only, the one that would otherwise wake it
    (``liveness_interval`` < ``sigfwd_poll``): an answer that came while the
    heartbeat stayed as it was came from the wake-up by the message."""
    from gsatellite.transport import boxwatch

    if boxwatch.filesystem(gsat.g) not in boxwatch.LOCAL:
        pytest.skip("the test's $HOME is on %s, not a local file system" % boxwatch.filesystem(gsat.g))
    gsat.env.update(GSAT_SIGFWD_POLL="5", GSAT_LIVENESS_INTERVAL="4.9")
    assert gsat.run("sigfwdd", "--start").returncode == 0
    try:
        [host] = os.listdir(os.path.join(gsat.g, "mboxes"))  # no controller tells it
        hostboxdir = os.path.join(gsat.g, "mboxes", host)
        alias = os.path.join(hostboxdir, "sigfwd.inbox")
        real = os.path.join(hostboxdir, os.readlink(alias))
        heartbeat = os.path.join(gsat.g, "var", "run", host, "heartbeat")
        for _ in range(3):
            gsat.wait_for(lambda: os.path.exists(heartbeat), what="the heartbeat")
            before = os.stat(heartbeat).st_mtime_ns
            p = gsat.run(CLASSIC_REQUEST, hostboxdir, alias, "ALIVE?", "-", "20", timeout=30)
            assert (p.returncode, p.stdout) == (0, "YES;%s\n" % real), p.stderr
            if os.stat(heartbeat).st_mtime_ns == before:
                break
        else:
            raise AssertionError("every answer came with a heartbeat: the forwarder waited for its timer")
    finally:
        assert gsat.run("sigfwdd", "--stop").returncode == 0


def test_sigfwd_never_signals_a_process_that_is_not_ours(gsat):
    """Whoever can write into the forwarder's box names the PID: only a
    gsatellite process of this host by our own records is signalled (the
    controller of gsatlcPid, the sputnik of a running job); a stranger, or
    a job's own process, is refused with 1 and neither stopped nor
    continued.  Each refusal is followed by an accepted request, so a
    signal sent by mistake would have arrived by then."""
    gsat.start()
    alias, real = _sigfwd(gsat)
    job = gsat.qsub(gsat.job("long.job", "sleep 60\n"))
    assert gsat.wait_state(job, ("running",)) == "running"
    gsat.wait_for(lambda: gsat.attr(job, "job.pid").isdigit() and gsat.attr(job, "sputnik.pid").isdigit(),
                  what="job.pid and sputnik.pid")
    job_pid, sputnik = int(gsat.attr(job, "job.pid")), int(gsat.attr(job, "sputnik.pid"))
    gsat.extra_pids.append(job_pid)
    stranger = subprocess.Popen(["sleep", "60"], start_new_session=True)
    gsat.extra_pids.append(stranger.pid)
    try:
        for command in ("SIGSTOP %d" % stranger.pid, "SIGSTOP -%d" % stranger.pid, "SIGSTOP %d" % job_pid):
            assert classic(gsat, alias, command) == "1;%s" % real, command
            assert classic(gsat, alias, "ALIVE?") == "YES;%s" % real
            assert _proc_state(stranger.pid) == "S" and _proc_state(job_pid) == "S", command
        os.kill(stranger.pid, signal.SIGSTOP)
        gsat.wait_for(lambda: _proc_state(stranger.pid) == "T", what="the stranger to stop")
        assert classic(gsat, alias, "SIGCONT %d" % stranger.pid) == "1;%s" % real
        assert classic(gsat, alias, "ALIVE?") == "YES;%s" % real
        assert _proc_state(stranger.pid) == "T", "a stranger was continued"

        # Ours: the job's sputnik, stopped here, is continued through the forwarder.
        os.kill(sputnik, signal.SIGSTOP)
        gsat.wait_for(lambda: _proc_state(sputnik) == "T", what="the sputnik to stop")
        assert classic(gsat, alias, "SIGCONT %d" % sputnik) == "0;%s" % real
        gsat.wait_for(lambda: _proc_state(sputnik) in ("S", "R"), what="forwarded SIGCONT to resume the sputnik")
        log = os.path.join(gsat.g, "var", "log", gsat.host(), "sigfwd.log")
        with open(log) as f:
            refused = [line for line in f if "not a gsatellite process of this host" in line]
        assert len(refused) == 4, refused
    finally:
        os.kill(sputnik, signal.SIGCONT)
        stranger.kill()
        stranger.wait()


def test_sigfwd_wakes_a_client_waiting_in_a_box_named_after_it(gsat):
    """A controller on another host wakes a client of this host, waiting for
    its answer, through the forwarder: SIGCONT reaches a process that owns a
    box ``PID[TAG].inbox`` made after it started; no other signal does, and
    a box of another PID makes no process ours."""
    gsat.start()
    alias, real = _sigfwd(gsat)
    client = subprocess.Popen(["sleep", "60"], start_new_session=True)
    other = subprocess.Popen(["sleep", "60"], start_new_session=True)
    gsat.extra_pids.extend([client.pid, other.pid])
    boxes = os.path.join(gsat.g, "mboxes", gsat.host())
    try:
        for p in (client, other):
            os.kill(p.pid, signal.SIGSTOP)
            gsat.wait_for(lambda pid=p.pid: _proc_state(pid) == "T", what="the process to stop")
        os.mkdir(os.path.join(boxes, "%d3.inbox" % client.pid), 0o700)
        assert classic(gsat, alias, "SIGKILL %d" % client.pid) == "1;%s" % real
        assert classic(gsat, alias, "SIGCONT %d" % other.pid) == "1;%s" % real
        assert classic(gsat, alias, "ALIVE?") == "YES;%s" % real
        assert _proc_state(client.pid) == "T" and _proc_state(other.pid) == "T"
        assert classic(gsat, alias, "SIGCONT %d" % client.pid) == "0;%s" % real
        gsat.wait_for(lambda: _proc_state(client.pid) in ("S", "R"), what="the waiting client to resume")
        assert _proc_state(other.pid) == "T"
    finally:
        for p in (client, other):
            p.kill()
            p.wait()


def test_classic_client_delegates_and_undelegates_actions(gsat):
    gsat.start()
    alias, real = _sigfwd(gsat)
    marker = os.path.join(gsat.jobs, "action.out")
    action = os.path.join(gsat.jobs, "action.sh")
    with open(action, "w") as f:
        # Not executable on purpose: DELEGATE_ACTION must make it so.
        f.write("#!/bin/bash\necho $$ >> %s\nexec sleep 300\n" % marker)
    os.chmod(action, 0o600)

    assert classic(gsat, alias, "DELEGATE_ACTION %s" % action) == "0;%s" % real
    gsat.wait_for(lambda: os.path.exists(marker) and open(marker).read().count("\n") == 1,
                  what="first action to run")
    assert classic(gsat, alias, "DELEGATE_ACTION %s" % action) == "1;%s" % real
    gsat.wait_for(lambda: open(marker).read().count("\n") == 2, what="second action to run")
    first, second = (int(x) for x in open(marker).read().split())
    gsat.extra_pids.extend([first, second])
    assert os.access(action, os.X_OK)
    assert _proc_state(first) not in (None, "Z")

    assert classic(gsat, alias, "UNDELEGATE_ACTION 0") == "OK;%s" % real
    gsat.wait_for(lambda: _proc_state(first) in (None, "Z"), timeout=10, what="action 0 to be killed")
    assert _proc_state(second) not in (None, "Z"), "UNDELEGATE_ACTION 0 must leave action 1 alone"
    assert classic(gsat, alias, "UNDELEGATE_ACTION 1") == "OK;%s" % real
    gsat.wait_for(lambda: _proc_state(second) in (None, "Z"), timeout=10, what="action 1 to be killed")
    # An id that names nothing (any more) is still answered OK.
    assert classic(gsat, alias, "UNDELEGATE_ACTION 0") == "OK;%s" % real


# -- our sendcmd -> a classic receiver ----------------------------------------------

@pytest.fixture
def classic_receiver(gsat):
    """A classic bash receiver on box G/mboxes/HOST/PID.inbox (its own PID)."""
    host = gsat.run(sys.executable, "-c", "import sys; sys.path.insert(0, %r); "
                    "from gsatellite import paths; print(paths.hostname())"
                    % os.path.join(os.path.dirname(os.path.dirname(HERE)), "lib"), check=True).stdout.strip()
    d = os.path.join(gsat.g, "mboxes", host)
    os.makedirs(d, mode=0o700)
    logfile = os.path.join(gsat.jobs, "receiver.log")
    # The box name carries the receiver's PID, as a classic process's box
    # does; bash's PID is only known after start, so a placeholder box is
    # renamed to the real name before the receiver looks at it.
    placeholder = os.path.join(d, "starting.inbox")
    os.mkdir(placeholder, 0o700)
    p = subprocess.Popen(
        ["bash", "-c", 'while [[ ! -d $1/$$.inbox ]]; do sleep 0.01; done; exec "$2" "$1/$$.inbox" "$3"',
         "receiver", d, CLASSIC_RECEIVER, logfile],
        env=gsat.env,
    )
    box = os.path.join(d, "%d.inbox" % p.pid)
    os.rename(placeholder, box)
    try:
        yield box, logfile
    finally:
        p.kill()
        p.wait()


def _logged(logfile):
    try:
        with open(logfile) as f:
            return f.read().splitlines()
    except FileNotFoundError:
        return []


def test_sendcmd_gets_answers_from_a_classic_receiver(gsat, classic_receiver):
    box, logfile = classic_receiver
    for command in ("ALIVE?", "HELLO classic world", "PID?"):
        p = gsat.run("sendcmd", "-c", command, "-m", box, "--timeout", "20")
        assert (p.returncode, p.stdout, p.stderr) == (0, "GOT %s\n" % command, "")
    got = _logged(logfile)
    assert [line.split(";")[0] for line in got] == ["ALIVE?", "HELLO classic world", "PID?"]
    # Each request named an answer box of sendcmd's own, which sendcmd
    # removed after reading the answer.
    for line in got:
        answer_box = line.split(";", 1)[1]
        assert answer_box.startswith(os.path.dirname(box) + "/") and answer_box.endswith(".inbox")
        assert not os.path.exists(answer_box)
    assert os.listdir(box) == []


def test_sendcmd_no_wait_for_answer_to_a_classic_receiver(gsat, classic_receiver):
    box, logfile = classic_receiver
    p = gsat.run("sendcmd", "-c", "NOTIFY something", "-m", box, "--no-wait-for-answer")
    assert (p.returncode, p.stdout, p.stderr) == (0, "", "")
    gsat.wait_for(lambda: _logged(logfile), what="receiver to take the message")
    # No answer box: the message ends with an empty answer part.
    assert _logged(logfile) == ["NOTIFY something;"]
    assert os.listdir(box) == []


def test_sendcmd_to_a_missing_box_fails_cleanly(gsat):
    missing = os.path.join(gsat.g, "mboxes", "nohost", "12345.inbox")
    p = gsat.run("sendcmd", "-c", "ALIVE?", "-m", missing, "--timeout", "2")
    assert p.returncode == 1
    assert p.stdout == ""
    assert p.stderr == 'sendcmd: Message box "%s" not existing.\n' % missing
