"""Two hosts sharing one $HOME, simulated with Linux namespaces.

Each "host" is a process tree in its own UTS namespace (its own host name)
and PID namespace (it cannot signal the other host's processes), over the
same $HOME.  Host A runs ``gsatlcd --start``; host B talks to A's
controller and signal forwarder only through the shared message boxes:

* B's ``sendcmd`` reaches A's controller; the wake-up travels as
  ``SIGCONT PID;`` through A's ``sigfwd.inbox`` (made visible by stopping
  A's forwarder for a moment);
* a ``DELEGATE_ACTION`` sent from B runs on A (it sees host name hostA);
* ``gsatlcd --stop`` on B stops A's controller.

Namespaces are torn down by killing each namespace's init by PID (which
kills everything inside); the tests skip only where ``unshare`` fails.
"""

import os
import signal
import subprocess
import sys
import time

import pytest

LIB = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "lib")
NS = ["unshare", "--uts", "--pid", "--fork", "--mount-proc"]


def _read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return ""


def _ns_args():
    for extra in (["--kill-child"], []):
        p = subprocess.run(NS + extra + ["hostname", "probe"], capture_output=True, text=True)
        if p.returncode == 0:
            return NS + extra
        reason = p.stderr.strip()
    pytest.skip("unshare --uts --pid fails here: %s" % reason)


def _children(pid):
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            stat = _read("/proc/%s/stat" % name)
            if stat and stat.rsplit(")", 1)[1].split()[1] == str(pid):
                found.append(int(name))
    return found


def _pid_ns(pid):
    try:
        return os.readlink("/proc/%d/ns/pid" % pid)
    except OSError:
        return None


def _outer_pid(init, inner_pid):
    """Our PID of the process known as ``inner_pid`` in ``init``'s namespace."""
    ns = _pid_ns(init)
    for name in os.listdir("/proc"):
        if not name.isdigit() or _pid_ns(int(name)) != ns:
            continue
        for line in _read("/proc/%s/status" % name).splitlines():
            if line.startswith("NSpid:") and line.split()[-1] == str(inner_pid):
                return int(name)
    return None


class Host:
    """A simulated host: a namespace whose init keeps it alive."""

    def __init__(self, gsat, ns, name, setup=""):
        self.gsat = gsat
        self.ns = ns
        self.name = name
        self.rc_file = os.path.join(gsat.jobs, "%s.setup.rc" % name)
        script = 'hostname "$1" || exit 90; %s; echo "$?" > "$2"; while :; do sleep 1; done' % (setup or "true")
        with open(os.path.join(gsat.jobs, "%s.out" % name), "wb") as out:
            self.unshare = subprocess.Popen(
                ns + ["bash", "-c", script, "init", name, self.rc_file],
                env=gsat.env, cwd=gsat.jobs, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            )
        self.init = None
        deadline = time.monotonic() + 10
        while self.init is None and time.monotonic() < deadline:
            kids = _children(self.unshare.pid)
            self.init = kids[0] if kids else None
            time.sleep(0.01)

    def setup_rc(self, timeout=60):
        self.gsat.wait_for(lambda: _read(self.rc_file) != "", timeout=timeout,
                           what="setup on %s (see %s.out)" % (self.name, self.name))
        return int(_read(self.rc_file))

    def kill(self):
        # pid 1 of a PID namespace takes every process inside with it.
        if self.init:
            try:
                os.kill(self.init, signal.SIGKILL)
            except OSError:
                pass
        try:
            self.unshare.kill()
        except OSError:
            pass
        self.unshare.wait()


def on_host(gsat, ns, name, command, timeout=60):
    """Run one bash command line on a fresh namespace host called ``name``."""
    return subprocess.run(
        ns + ["bash", "-c", 'hostname "$1" || exit 90; shift; eval "$*"', "run", name, command],
        env=gsat.env, cwd=gsat.jobs, capture_output=True, text=True, timeout=timeout,
    )


@pytest.fixture
def two_hosts(gsat):
    ns = _ns_args()
    hosts = []

    def start(name, setup=""):
        h = Host(gsat, ns, name, setup)
        hosts.append(h)
        assert h.init, "no init process under unshare for %s" % name
        return h

    try:
        yield gsat, ns, start
    finally:
        for h in hosts:
            h.kill()
        # The PIDs in these files are namespace PIDs: the gsat fixture's
        # teardown must not send signals to whatever owns those numbers here.
        for f in ("gsatlcPid", "gsatlcHostName"):
            try:
                os.unlink(os.path.join(gsat.g, f))
            except OSError:
                pass
        run = os.path.join(gsat.g, "var", "run")
        for host in os.listdir(run) if os.path.isdir(run) else ():
            try:
                os.unlink(os.path.join(run, host, "sigfwd.pid"))
            except OSError:
                pass


@pytest.mark.slow
def test_host_b_reaches_host_a_through_its_signal_forwarder(two_hosts):
    gsat, ns, start = two_hosts
    a = start("hostA", "gsatlcd --start")
    assert a.setup_rc() == 0, _read(os.path.join(gsat.jobs, "hostA.out"))

    host_a = gsat.host()
    # No GSAT_HOSTNAME: the name comes from the (unresolvable) node name.
    assert host_a.split(".")[0] == "hostA"
    inner_pid = gsat.controller_pid()
    box = gsat.controller_box()
    assert os.path.isdir(box)
    ctl = _outer_pid(a.init, inner_pid)
    assert ctl is not None and _pid_ns(ctl) != _pid_ns(os.getpid())

    p = on_host(gsat, ns, "hostB", "sendcmd -c 'ALIVE?' -m %s --timeout 30" % box)
    assert (p.returncode, p.stdout, p.stderr) == (0, "YES\n", "")
    p = on_host(gsat, ns, "hostB", "sendcmd -c 'HOST?' -m %s --timeout 30; "
                "%s -c 'import sys; sys.path.insert(0, \"%s\"); "
                "from gsatellite import paths; print(paths.hostname())'" % (box, sys.executable, LIB))
    assert p.returncode == 0, p.stderr
    answer, host_b = p.stdout.split()
    assert answer == host_a
    assert host_b.split(".")[0] == "hostB"
    # B's own replies go to its own host's box directory.
    assert os.path.isdir(os.path.join(gsat.g, "mboxes", host_b))

    # Freeze A's forwarder so the wake-up B publishes for the controller
    # stays in A's sigfwd box where we can read it.
    fwd_inner = int(_read(os.path.join(gsat.g, "var", "run", host_a, "sigfwd.pid")))
    fwd = _outer_pid(a.init, fwd_inner)
    assert fwd is not None
    fwd_box = os.path.join(gsat.g, "mboxes", host_a, "%d.inbox" % fwd_inner)
    assert os.readlink(os.path.join(gsat.g, "mboxes", host_a, "sigfwd.inbox")) == "%d.inbox" % fwd_inner
    os.kill(fwd, signal.SIGSTOP)
    waiting = None
    try:
        waiting = subprocess.Popen(
            ns + ["bash", "-c", 'hostname hostB && exec sendcmd -c "PID?" -m "$1" --timeout 30', "run", box],
            env=gsat.env, cwd=gsat.jobs, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        gsat.wait_for(lambda: [n for n in os.listdir(fwd_box) if n.startswith("message")], timeout=20,
                      what="a wake-up message in A's sigfwd box")
        (name,) = [n for n in os.listdir(fwd_box) if n.startswith("message")]
        assert _read(os.path.join(fwd_box, name)) == "SIGCONT %d;" % inner_pid
        os.kill(fwd, signal.SIGCONT)
        out, err = waiting.communicate(timeout=60)
    finally:
        os.kill(fwd, signal.SIGCONT)
        if waiting is not None and waiting.poll() is None:
            waiting.kill()  # --kill-child takes its namespace along
            waiting.wait()
    assert (waiting.returncode, out, err) == (0, "%d\n" % inner_pid, "")
    gsat.wait_for(lambda: not [n for n in os.listdir(fwd_box) if n.startswith("message")], timeout=10,
                  what="A's forwarder to take the wake-up")

    # gsatlcd --stop on B asks A's controller to stop (via A's forwarder).
    p = on_host(gsat, ns, "hostB", "gsatlcd --status; gsatlcd --stop")
    assert p.returncode == 0, p.stderr
    assert p.stdout == 'gsatlc hostname="%s"\ngsatlc PID="%d"\n' % (host_a, inner_pid)
    gsat.wait_for(lambda: not os.path.exists(os.path.join(gsat.g, "gsatlcPid")), timeout=20,
                  what="A's controller to stop")
    gsat.wait_for(lambda: _read("/proc/%d/stat" % ctl) == "" or
                  _read("/proc/%d/stat" % ctl).rsplit(")", 1)[1].split()[0] == "Z",
                  timeout=20, what="A's controller process to exit")


@pytest.mark.slow
def test_action_delegated_from_host_b_runs_on_host_a(two_hosts):
    gsat, ns, start = two_hosts
    a = start("hostA", "gsatlcd --start")
    assert a.setup_rc() == 0, _read(os.path.join(gsat.jobs, "hostA.out"))
    host_a = gsat.host()
    alias = os.path.join(gsat.g, "mboxes", host_a, "sigfwd.inbox")
    out = os.path.join(gsat.jobs, "where.txt")
    action = os.path.join(gsat.jobs, "where.sh")
    with open(action, "w") as f:
        f.write("#!/bin/bash\nhostname > %s.tmp && mv %s.tmp %s\nexec sleep 300\n" % (out, out, out))

    p = on_host(gsat, ns, "hostB", "hostname; sendcmd -c 'DELEGATE_ACTION %s' -m %s --timeout 30"
                % (action, alias))
    assert p.returncode == 0, p.stderr
    where_b, action_id = p.stdout.split()
    assert where_b == "hostB"
    assert action_id.isdigit()
    gsat.wait_for(lambda: os.path.exists(out), timeout=20, what="the delegated action to run")
    assert _read(out) == "hostA"

    p = on_host(gsat, ns, "hostB", "sendcmd -c 'UNDELEGATE_ACTION %s' -m %s --timeout 30" % (action_id, alias))
    assert (p.returncode, p.stdout) == (0, "OK\n"), p.stderr
