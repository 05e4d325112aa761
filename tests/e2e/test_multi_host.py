"""Several hosts sharing one $HOME act as one installation (issue 17).

Each host is a namespace (UTS, PID, mount for /proc) whose init keeps it
alive, as in test_two_hosts.py; commands run *inside* a host with
``nsenter`` into its namespaces, so what they start (a signal forwarder, a
controller) lives on that host and dies with it.  PIDs really differ and no
signal crosses hosts.  A host is "lost" by killing its init (which takes
every process of the host along) and "comes back" as a new namespace with
the same name, whose PIDs start at 1 again: the PIDs in the shared files
now name other processes.

Teardown kills each host's init by PID and removes every PID file of the
shared $HOME first: those hold namespace PIDs, which the gsat fixture must
not signal here.
"""

import os
import fcntl
import signal
import subprocess
import time

import pytest

from .test_two_hosts import NS, Host as _Host, _children, _outer_pid, _read


def _ns_args():
    p = subprocess.run(NS + ["hostname", "probe"], capture_output=True, text=True)
    if p.returncode != 0:
        pytest.skip("unshare --uts --pid fails here: %s" % p.stderr.strip())
    if subprocess.run(["nsenter", "--version"], capture_output=True).returncode != 0:
        pytest.skip("no nsenter")
    return NS


class Host(_Host):
    """A simulated host: a namespace kept alive by its init; :meth:`kill`
    (inherited) loses it, its init taking every process inside along."""

    def __init__(self, gsat, name):
        self.gsat, self.name = gsat, name
        self.unshare = subprocess.Popen(
            NS + ["bash", "-c", 'hostname "$1" && exec sleep 100000', "init", name],
            env=gsat.env, cwd=gsat.jobs, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        self.init = None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            kids = _children(self.unshare.pid)
            if kids and _read("/proc/%d/comm" % kids[0]) == "sleep":
                self.init = kids[0]
                break
            time.sleep(0.01)
        assert self.init, "no init process under unshare for %s" % name

    def _argv(self, command):
        return ["nsenter", "--target", str(self.init), "--uts", "--pid", "--mount", "--",
                "bash", "-c", command]

    def run(self, command, timeout=60, env=None):
        """Run one bash command line on this host; a CompletedProcess."""
        return subprocess.run(self._argv(command), env=env or self.gsat.env, cwd=self.gsat.jobs,
                              capture_output=True, text=True, timeout=timeout)

    def popen(self, command, env=None):
        return subprocess.Popen(self._argv(command), env=env or self.gsat.env, cwd=self.gsat.jobs,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def outer(self, inner_pid):
        """Our PID of this host's process ``inner_pid``."""
        return _outer_pid(self.init, inner_pid)

    def fqdn(self):
        p = self.run('python3 -c "import sys; sys.path.insert(0, sys.argv[1]); '
                     'from gsatellite import paths; print(paths.hostname())" "$GSAT_LIB"',
                     env=dict(self.gsat.env, GSAT_LIB=LIB))
        assert p.returncode == 0, p.stderr
        return p.stdout.strip()


LIB = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "lib")


def _forget_pid_files(g):
    """Namespace PIDs must not reach the gsat fixture's teardown."""
    for top, _, files in os.walk(g):
        for name in files:
            if name in ("gsatlcPid", "sigfwd.pid", "sputnik.pid", "job.pid"):
                try:
                    os.unlink(os.path.join(top, name))
                except OSError:
                    pass


@pytest.fixture
def hosts(gsat):
    _ns_args()
    started = []

    def start(name):
        h = Host(gsat, name)
        started.append(h)
        return h

    try:
        yield gsat, start
    finally:
        for h in started:
            h.kill()
        _forget_pid_files(gsat.g)


def _start_controller(host):
    p = host.run("gsatlcd --start")
    assert p.returncode == 0, p.stderr
    return host.fqdn()


def _a_serves(hosts):
    """Hosts A (running the controller) and B: ``gsat, a, b, A's name``."""
    gsat, start = hosts
    a, b = start("hostA"), start("hostB")
    return gsat, a, b, _start_controller(a)


def _sigfwd_pid(gsat, host_name):
    text = _read(os.path.join(gsat.g, "var", "run", host_name, "sigfwd.pid"))
    return int(text) if text.isdigit() else None


# -- item 5: say the truth across hosts ------------------------------------------------

@pytest.mark.slow
def test_a_silent_forwarder_is_named_as_the_process_that_did_not_answer(hosts):
    gsat, a, b, name_a = _a_serves(hosts)
    # A job that does not start: no sputnik wakes (and so continues) the
    # stopped controller with its SIGCONT.
    job = gsat.job("later.job", "true\n")
    p = b.run("gqsub -a 2999-01-01T00:00 %s" % job)
    assert p.returncode == 0, p.stderr
    job_id = p.stdout.strip()
    # Freeze A's controller and forwarder: the request from B stays unread
    # and so does the wake-up B hands to A's forwarder.
    ctl = a.outer(gsat.controller_pid())
    fwd = a.outer(_sigfwd_pid(gsat, name_a))
    assert ctl and fwd
    box = os.path.join(gsat.g, "mboxes", name_a, "sigfwd.inbox")
    gsat.wait_for(lambda: not [n for n in os.listdir(box) if n.startswith("message")],
                  what="A's forwarder to take gqsub's wake-up")
    for pid in (ctl, fwd):
        os.kill(pid, signal.SIGSTOP)
    try:
        p = b.run("gqhold %s" % job_id, env=dict(gsat.env, GSAT_ANSWER_TIMEOUT="3"))
    finally:
        for pid in (ctl, fwd):
            os.kill(pid, signal.SIGCONT)
    assert p.returncode == 69, p
    assert p.stderr.count("\n") == 1, p.stderr
    # Within 3 s, or (on a slow machine) gsatlcPid aged past 5 s first.
    named = "gsatlc (PID %d on %s)" % (gsat.controller_pid(), name_a)
    assert "no answer from %s within 3 s" % named in p.stderr or \
        "%s went away without answering" % named in p.stderr, p.stderr
    assert "the signal forwarder sigfwd of %s (it left the wake-up unread) did not pass on the wake-up" \
        % name_a in p.stderr, p.stderr
    assert p.stderr.rstrip().endswith("qhold not done."), p.stderr
    # Nothing was left behind in A's forwarder box: the wake-up was taken back.
    left = [n for n in os.listdir(box) if n.startswith("message")]
    assert not left, [_read(os.path.join(box, n)) for n in left]
    assert gsat.state(job_id) == "queued"


@pytest.mark.slow
def test_a_host_without_forwarder_is_named_by_sendcmd(hosts):
    gsat, a, b, name_a = _a_serves(hosts)
    ctl = a.outer(gsat.controller_pid())
    os.kill(ctl, signal.SIGSTOP)
    try:
        assert a.run("sigfwdd --stop").returncode == 0
        gsat.wait_for(lambda: not os.path.exists(os.path.join(gsat.g, "mboxes", name_a, "sigfwd.inbox")),
                      what="A's forwarder to stop")
        p = b.run("sendcmd -c 'PID?' -m %s --timeout 1" % gsat.controller_box())
    finally:
        os.kill(ctl, signal.SIGCONT)
    assert p.returncode == 69, p
    assert p.stderr == ("sendcmd: no answer from PID %d on %s (%s) within 1 s; the signal forwarder sigfwd "
                        "of %s (it has no box: not running) did not pass on the wake-up\n"
                        % (gsat.controller_pid(), name_a, gsat.controller_box(), name_a)), p.stderr


# -- item 2: forwarders heal themselves ------------------------------------------------

def _alias_target(gsat, host_name):
    try:
        return os.readlink(os.path.join(gsat.g, "mboxes", host_name, "sigfwd.inbox"))
    except OSError:
        return None


@pytest.mark.slow
def test_a_killed_forwarder_is_restarted_by_the_controller_and_inherits_its_box(hosts):
    gsat, a, b, name_a = _a_serves(hosts)
    old = _sigfwd_pid(gsat, name_a)
    old_box = os.path.join(gsat.g, "mboxes", name_a, "%d.inbox" % old)
    fwd = a.outer(old)
    os.kill(fwd, signal.SIGSTOP)
    # A notice for a waiter on A and a stale wake-up, published while the
    # forwarder cannot read them; then it dies with them unread.
    fifo = os.path.join(gsat.jobs, "waiter.fifo")
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        p = b.run("sendcmd --no-wait-for-answer --no-sigfwd -c 'WRITE_FIFO %s 00042 7' -m %s; "
                  "sendcmd --no-wait-for-answer --no-sigfwd -c 'SIGTERM 1' -m %s"
                  % (fifo, os.path.join(gsat.g, "mboxes", name_a, "sigfwd.inbox"),
                     os.path.join(gsat.g, "mboxes", name_a, "sigfwd.inbox")))
        assert p.returncode == 0, p.stderr
        assert len([n for n in os.listdir(old_box) if n.startswith("message")]) == 2
        os.kill(fwd, signal.SIGKILL)
        gsat.wait_for(lambda: _sigfwd_pid(gsat, name_a) not in (None, old), timeout=20,
                      what="the controller to start a new forwarder on A")
        new = _sigfwd_pid(gsat, name_a)
        assert a.outer(new) is not None
        gsat.wait_for(lambda: _alias_target(gsat, name_a) == "%d.inbox" % new, what="the alias to name it")
        gsat.wait_for(lambda: not os.path.exists(old_box), what="the dead forwarder's box to go")
        data = b""
        deadline = time.monotonic() + 20
        while b"\n" not in data and time.monotonic() < deadline:
            try:
                data += os.read(reader, 100)
            except BlockingIOError:
                time.sleep(0.02)
        assert data == b"00042 7\n"
    finally:
        os.close(reader)
    # The stale signal was dropped (init of A would have ignored it anyway,
    # but it names a PID of a boot that may be gone).
    assert "SIGTERM 1" not in _read(os.path.join(gsat.g, "var", "log", name_a, "sigfwd.log"))
    # B's requests reach A's controller through the new forwarder.
    p = b.run("gsatlcd --status")
    assert p.returncode == 0 and name_a in p.stdout


@pytest.mark.slow
def test_a_forwarder_pid_file_from_before_a_reboot_names_nobody(hosts):
    gsat, start = hosts
    a = start("hostA")
    p = a.run("sigfwdd --start")
    assert p.returncode == 0, p.stderr
    name_a = a.fqdn()
    old = _sigfwd_pid(gsat, name_a)
    a.kill()  # the host goes down; its files stay in the shared $HOME
    assert _sigfwd_pid(gsat, name_a) == old
    a = start("hostA")  # back, with PIDs counting from 1 again
    # A process of the new boot takes the old forwarder's PID, even its name.
    p = a.run("for i in $(seq 500); do exec -a sigfwd sleep 1000 </dev/null >/dev/null 2>&1 & "
              "if [ $! -eq %d ]; then echo $!; break; fi; kill $!; done" % old)
    assert p.stdout.strip() == str(old), (p.stdout, p.stderr)
    stranger = a.outer(old)
    p = a.run("sigfwdd --start")
    assert p.returncode == 0, p.stderr
    new = _sigfwd_pid(gsat, name_a)
    assert new not in (None, old)
    assert _alias_target(gsat, name_a) == "%d.inbox" % new
    assert _read("/proc/%d/stat" % stranger).rsplit(")", 1)[1].split()[0] == "S"  # not signalled
    # A second start finds the new forwarder and starts nothing.
    p = a.run("sigfwdd --start")
    assert p.returncode == 0 and _sigfwd_pid(gsat, name_a) == new


# -- item 1: gqwait from any host -------------------------------------------------------

def _gated_job(gsat, name="gated.job", value=3):
    gate = os.path.join(gsat.jobs, name + ".gate")
    return gsat.job(name, 'while [ ! -e "%s" ]; do sleep 0.05; done\nexit %d\n' % (gate, value)), gate


def _open(gate):
    with open(gate, "w"):
        pass


def _outcomes(waiters, then):
    """Do ``then()``, then collect ``(exit, stdout, stderr)`` of each waiter;
    they are killed (by PID) if anything fails."""
    try:
        then()
        results = [w.communicate(timeout=60) for w in waiters]
    finally:
        for w in waiters:
            if w.poll() is None:
                w.kill()
                w.wait()
    return [(w.returncode,) + r for w, r in zip(waiters, results)]


def _registered(gsat, job_id, host_name):
    return [line for line in _read(os.path.join(gsat.job_dir(job_id), "job.waiters")).splitlines()
            if line.split()[0] == host_name]


@pytest.mark.slow
def test_gqwait_on_a_host_without_forwarder_gets_its_notice(hosts):
    gsat, a, b, name_a = _a_serves(hosts)
    name_b = b.fqdn()
    assert _sigfwd_pid(gsat, name_b) is None
    job, gate = _gated_job(gsat)
    job_id = a.run("gqsub %s" % job).stdout.strip()
    gsat.wait_state(job_id, "running")
    waiter = b.popen("gqwait %s" % job_id)
    try:
        gsat.wait_for(lambda: _registered(gsat, job_id, name_b), what="gqwait on B to register")
        # gqwait started B's forwarder before it registered.
        assert _sigfwd_pid(gsat, name_b) is not None and b.outer(_sigfwd_pid(gsat, name_b))
        _open(gate)
        out, err = waiter.communicate(timeout=60)
    finally:
        if waiter.poll() is None:
            waiter.kill()
            waiter.wait()
    assert (waiter.returncode, out, err) == (3, "", "")
    assert "did not take" not in _read(os.path.join(gsat.g, "var", "log", "gsatlc.log"))
    assert gsat.state(job_id) == "failed" and name_a


@pytest.mark.slow
def test_stopping_the_controller_keeps_every_hosts_waiters(hosts):
    gsat, start = hosts
    a, b, c = start("hostA"), start("hostB"), start("hostC")
    _start_controller(a)
    job, gate = _gated_job(gsat, value=0)
    job_id = a.run("gqsub %s" % job).stdout.strip()
    gsat.wait_state(job_id, "running")
    def move_and_end():
        for name in (a.fqdn(), b.fqdn()):
            gsat.wait_for(lambda: _registered(gsat, job_id, name), what="gqwait on %s" % name)  # noqa: B023
        p = a.run("gsatlcd --stop")
        assert p.returncode == 0, p.stderr
        # The controller moves to C; the job, still running on A, ends there.
        assert c.run("gsatlcd --start").returncode == 0
        _open(gate)

    assert _outcomes([h.popen("gqwait %s" % job_id) for h in (a, b)], move_and_end) == [(0, "", "")] * 2
    gsat.wait_state(job_id, "finished")


# -- item 4: takeover ------------------------------------------------------------------

def _controllers(*hosts_):
    """Our PIDs of the live gsatlc processes on ``hosts_``."""
    spaces = {os.readlink("/proc/%d/ns/pid" % h.init): h for h in hosts_}
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            ns = os.readlink("/proc/%s/ns/pid" % name)
        except OSError:
            continue
        stat = _read("/proc/%s/stat" % name)
        if ns in spaces and _read("/proc/%s/comm" % name) == "gsatlc" and stat \
                and stat.rsplit(")", 1)[1].split()[0] != "Z":
            # A child a controller forks (a spare sputnik, a mail sender)
            # bears its name until it renames itself: not a controller.
            ppid = stat.rsplit(")", 1)[1].split()[1]
            if _read("/proc/%s/comm" % ppid) != "gsatlc":
                found.append(int(name))
    return found


def _claims(gsat):
    return sorted(n for n in os.listdir(gsat.g) if n.startswith("gsatlc.claim."))


def _stale(gsat, seconds=5.5):
    """gsatlcPid is older than the liveness rule allows."""
    try:
        return time.time() - os.stat(os.path.join(gsat.g, "gsatlcPid")).st_ctime > seconds
    except FileNotFoundError:
        return True


def _start_at_once(*hosts_):
    starters = [h.popen("gsatlcd --start") for h in hosts_]
    return [(p.wait(timeout=60), p.stdout.read(), p.stderr.read()) for p in starters]


@pytest.mark.slow
def test_start_on_a_second_host_says_where_the_controller_runs(hosts):
    gsat, a, b, name_a = _a_serves(hosts)
    pid = gsat.controller_pid()
    p = b.run("gsatlcd --start")
    assert (p.returncode, p.stdout, p.stderr) == (0, "gsatlc is running on %s as PID %d\n" % (name_a, pid), "")
    assert _controllers(b) == [] and len(_controllers(a)) == 1
    assert gsat.host() == name_a and gsat.controller_pid() == pid


@pytest.mark.slow
def test_hosts_starting_at_the_same_moment_never_both_serve(hosts):
    gsat, start = hosts
    a, b, c = start("hostA"), start("hostB"), start("hostC")
    results = _start_at_once(a, b)
    assert [r[0] for r in results] == [0, 0], results
    (winner,) = _controllers(a, b)
    assert len(_claims(gsat)) == 1
    lost = a if a.outer(gsat.controller_pid()) == winner else b
    other = b if lost is a else a
    # The winner's host goes down; a lock it held outlives it (NFS): here,
    # a lock the test takes on gsatlc.lock.
    lost.kill()
    lock = os.open(os.path.join(gsat.g, "gsatlc.lock"), os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        gsat.wait_for(lambda: _stale(gsat), what="the lost controller's gsatlcPid to go stale")
        results = _start_at_once(other, c)
    finally:
        os.close(lock)
    assert [r[0] for r in results] == [0, 0], results
    (serving,) = _controllers(other, c)
    assert len(_claims(gsat)) == 1
    serving_host = other if other.outer(gsat.controller_pid()) == serving else c
    assert gsat.host() == serving_host.fqdn()
    p = other.run("gqsub %s" % gsat.job("after.job", "true\n"))
    assert p.returncode == 0, p.stderr
    gsat.wait_state(p.stdout.strip(), "finished")


@pytest.mark.slow
def test_the_watchdog_takes_over_when_the_controllers_host_is_lost(hosts):
    gsat, a, b, _ = _a_serves(hosts)
    watchdog = b.popen("gsatlcd --watch")
    try:
        assert watchdog.stdout.readline().startswith("gsatlcd: watching")
        a.kill()
        name_b = b.fqdn()
        gsat.wait_for(lambda: gsat.host() == name_b and not _stale(gsat, 5), timeout=60,
                      what="the watchdog on B to start a controller there")
        assert len(_controllers(b)) == 1
    finally:
        watchdog.kill()
        watchdog.wait()


# -- item 3: a dead host's jobs do not block the queue -----------------------------------

def _take_pid(host, pid):
    """Start a sleeping stranger at ``pid`` on ``host`` (PIDs of a fresh
    namespace count up from 1); our PID of it, or None if it was passed."""
    p = host.run("for i in $(seq 1000); do sleep 1000 </dev/null >/dev/null 2>&1 & "
                 "if [ $! -ge %d ]; then echo $!; break; fi; kill $!; done" % pid)
    got = p.stdout.strip()
    return host.outer(pid) if got == str(pid) else None


def _state_letter(pid):
    stat = _read("/proc/%d/stat" % pid)
    return stat.rsplit(")", 1)[1].split()[0] if stat else None


@pytest.mark.slow
def test_a_lost_host_fails_its_job_and_the_queue_goes_on(hosts):
    gsat, start = hosts
    gsat.env["GSAT_HOST_LOST_AFTER"] = "6"
    a, b, c = start("hostA"), start("hostB"), start("hostC")
    name_a = _start_controller(a)
    ran = os.path.join(gsat.jobs, "ran")
    first, _ = _gated_job(gsat, "first.job")
    jobs = [first] + [gsat.job("q%d.job" % i, 'echo "$GSAT_JOBNAME $(hostname)" >> %s\n' % ran) for i in (1, 2)]
    p = c.run("gqsub %s" % " ".join(jobs))
    assert p.returncode == 0, p.stderr
    ids = p.stdout.split()
    gsat.wait_state(ids[0], "running")
    gsat.wait_for(lambda: gsat.attr(ids[0], "job.pid").isdigit(), what="the first job to start")
    assert [gsat.state(i) for i in ids[1:]] == ["queued", "queued"]
    old_pids = [int(gsat.attr(ids[0], name)) for name in ("sputnik.pid", "job.pid")]
    def lose_a_and_take_over():
        for host in (b, c):
            name = host.fqdn()
            gsat.wait_for(lambda: _registered(gsat, ids[0], name), what="gqwait on %s" % name)  # noqa: B023
        a.kill()  # every process of the controller's host, the job's too
        gsat.wait_for(lambda: _stale(gsat), what="A's gsatlcPid to go stale")
        p = b.run("gsatlcd --start")
        assert p.returncode == 0, p.stderr
        gsat.wait_state(ids[0], "failed", timeout=60)
        assert gsat.attr(ids[0], "job.reason") == "host %s lost" % name_a
        for job_id in ids[1:]:
            gsat.wait_state(job_id, "finished", timeout=60)

    waiting = [b.popen("gqwait %s" % " ".join(ids)), c.popen("gqwait %s" % ids[0])]
    assert _outcomes(waiting, lose_a_and_take_over) == [(1, "", "")] * 2
    assert sorted(_read(ran).splitlines()) == ["q1.job hostB", "q2.job hostB"]

    # A comes back with the same name; its new processes get the old PIDs.
    a = start("hostA")
    strangers = [_take_pid(a, pid) for pid in sorted(old_pids)]
    assert any(strangers), "no process of the new hostA got an old PID"
    p = a.run("gsatlcd --start; gqstat")
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("gsatlc is running on %s as PID" % b.fqdn())
    p = a.run("gqsub %s" % gsat.job("later.job", 'echo "$GSAT_JOBNAME $(hostname)" >> %s\n' % ran))
    assert p.returncode == 0, p.stderr
    gsat.wait_state(p.stdout.strip(), "finished")
    assert sorted(_read(ran).splitlines()) == ["later.job hostB", "q1.job hostB", "q2.job hostB"]
    assert gsat.state(ids[0]) == "failed"
    for pid in strangers:
        if pid is not None:
            assert _state_letter(pid) == "S", "a stranger with an old PID was signalled"


def _processes_of(host):
    ns = os.readlink("/proc/%d/ns/pid" % host.init)
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit() and int(name) != host.init:
            try:
                if os.readlink("/proc/%s/ns/pid" % name) == ns:
                    found.append(int(name))
            except OSError:
                pass
    return found


@pytest.mark.slow
def test_a_host_cut_off_and_back_reports_its_job_once_and_its_controller_steps_down(hosts):
    gsat, start = hosts
    gsat.env["GSAT_HOST_LOST_AFTER"] = "6"
    a, b = start("hostA"), start("hostB")
    _start_controller(a)
    job, gate = _gated_job(gsat, value=0)
    job_id = a.run("gqsub %s" % job).stdout.strip()
    gsat.wait_for(lambda: gsat.attr(job_id, "job.pid").isdigit(), what="the job to start")
    old_controller = a.outer(gsat.controller_pid())
    frozen = _processes_of(a)
    for pid in frozen:  # A is cut off: nothing of it runs, nothing beats
        os.kill(pid, signal.SIGSTOP)
    try:
        gsat.wait_for(lambda: _stale(gsat), what="A's gsatlcPid to go stale")
        assert b.run("gsatlcd --start").returncode == 0
        gsat.wait_state(job_id, "failed", timeout=60)
    finally:
        for pid in frozen:
            os.kill(pid, signal.SIGCONT)
    # A's controller sees its claim taken over and leaves; B's stays.
    gsat.wait_for(lambda: _state_letter(old_controller) in (None, "Z"), what="A's controller to step down")
    assert gsat.host() == b.fqdn() and len(_controllers(a, b)) == 1
    assert _sigfwd_pid(gsat, a.fqdn()) is not None and a.outer(_sigfwd_pid(gsat, a.fqdn()))
    # The job still ran on A all along: its end is taken, once.
    _open(gate)
    gsat.wait_state(job_id, "finished", timeout=60)
    assert gsat.attr(job_id, "job.reason") == ""
    assert len(gsat.attr(job_id, "job.start").split()) == 1
    log = _read(os.path.join(gsat.g, "var", "log", "gsatlc.log"))
    assert log.count("its sputnik reports exit 0; taken") == 1


@pytest.mark.slow
def test_every_user_command_works_from_a_host_without_controller(hosts):
    gsat, a, b, name_a = _a_serves(hosts)
    mark = os.path.join(gsat.jobs, "usr1")
    long_job = gsat.job("long.job", 'trap "touch %s" USR1\necho hello\nwhile [ ! -e "%s.gate" ]; do sleep 0.05; done\n'
                        % (mark, mark))
    short = gsat.job("short.job", "exit 5\n")
    p = b.run("gqsub %s %s %s" % (long_job, short, short))
    assert p.returncode == 0, p.stderr
    running, queued, other = p.stdout.split()
    gsat.wait_for(lambda: gsat.attr(running, "job.pid").isdigit(), what="the first job to start")
    p = b.run("gqstat")
    assert p.returncode == 0 and running in p.stdout and queued in p.stdout, p
    assert b.run("gqhold %s" % queued).returncode == 0 and gsat.state(queued) == "held"
    assert b.run("gqrls %s" % queued).returncode == 0 and gsat.state(queued) == "queued"
    assert b.run("gqdel %s" % other).returncode == 0 and not os.path.exists(gsat.job_dir(other))
    gsat.wait_for(lambda: gsat.attr(running, "job.stdout") == "hello", what="the job's first line")
    p = b.run("gqsig -s USR1 %s" % running)
    assert p.returncode == 0, p.stderr
    gsat.wait_for(lambda: os.path.exists(mark), what="USR1 to reach the job on A")
    p = b.run("gqpeek %s" % running)
    assert (p.returncode, p.stdout) == (0, "hello\n"), p
    p = b.run("sendcmd -c 'HOST?' -m %s" % gsat.controller_box())
    assert (p.returncode, p.stdout) == (0, name_a + "\n"), p
    _open(mark + ".gate")
    p = b.run("gqwait %s %s" % (running, queued))
    assert (p.returncode, p.stderr) == (5, ""), p
    p = b.run("gqclean")
    assert p.returncode == 0, p.stderr
    assert not os.path.exists(gsat.job_dir(running)) and not os.path.exists(gsat.job_dir(queued))
    p = b.run("gsatlcd --status")
    assert p.stdout == 'gsatlc hostname="%s"\ngsatlc PID="%d"\n' % (name_a, gsat.controller_pid())
