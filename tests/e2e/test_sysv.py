"""``transport = sysv`` with the real daemons (FEATURES.md §9).

* Our gqsub and sendcmd talk to the controller over its queue while a
  classic client (shell tools only) talks to it over its box, at the same
  moment: every request is answered exactly once, over the medium it came
  by (the classic client gets the box as sender, as classic).
* The controller and a running job's sputnik each own a queue found by PID
  (no directory listing); ``kill -9`` of both: the next start removes their
  queues, and no queue of this installation is left without a live owner.
* Messages over msgmax arrive whole: a job path plus options longer than
  8 KiB through gqsub, trigger arguments just under and just over the limit.
* ``gsatlcd --stop`` leaves no queue behind.
* An answer address naming a queue of ours and the PID of another process
  (a stranger at a dead client's PID) gets its answer, but the stranger is
  not woken; the queue's owner, the one its registry entry records, is.
"""

import os
import signal
import subprocess
import sys
import threading

import pytest

from conftest import INSTALLED, LIB
from .test_protocol import classic

sysv_ipc = pytest.importorskip("sysv_ipc")


def registry(gsat):
    d = os.path.join(gsat.g, "var", "run", gsat.sysv_host, "sysv")
    out = {}
    for name in os.listdir(d):
        if name[0].isdigit():
            with open(os.path.join(d, name)) as f:
                out[name] = int(f.read().split()[0])
    return out


def keys_of(gsat, numbers):
    """The System V keys of queue numbers ``numbers`` in ``gsat``'s installation."""
    from gsatellite.transport import sysvkeys

    with open(os.path.join(gsat.g, "var", "run", gsat.sysv_host, "sysv", sysvkeys.SECRET)) as f:
        secret = int(f.read().strip(), 16)
    return {sysvkeys.key_for(secret, os.geteuid(), n) for n in numbers}


def _gone(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def kernel_keys():
    with open("/proc/sysvipc/msg") as f:
        return {int(row.split()[0]) for row in f.read().splitlines()[1:]}


@pytest.fixture
def sysv(gsat):
    gsat.env["GSAT_TRANSPORT"] = "sysv"
    gsat.start()
    gsat.sysv_host = gsat.host()  # gsatlcHostName goes with the controller
    return gsat


def controller_queue(gsat):
    entries = registry(gsat)
    pid = str(gsat.controller_pid())
    assert pid in entries, "the controller has no queue: %s" % entries
    return "sysv:%s:%s:%d" % (gsat.sysv_host, pid, entries[pid])


def test_our_clients_use_the_queue_and_a_classic_client_the_box_at_once(sysv):
    gsat = sysv
    address = controller_queue(gsat)
    pid = gsat.controller_pid()
    box = gsat.controller_box()
    p = gsat.run("sendcmd", "-c", "ALIVE?", "-m", address, check=True)
    assert p.stdout == "YES\n"
    hold = gsat.job("hold.sh", "sleep 600\n")
    gsat.wait_state(gsat.qsub(hold), "running")
    job = gsat.job("quick.sh", "true\n")
    results = {"classic": [], "ours": [], "sendcmd": []}
    errors = []

    def classic_client():
        for _ in range(15):
            try:
                results["classic"].append(classic(gsat, box, "PID?", pid))
            except AssertionError as e:
                errors.append(str(e))

    def our_client():
        for _ in range(3):
            p = gsat.run("gqsub", job, job, job, job, job)
            if p.returncode:
                errors.append(p.stderr)
            results["ours"].extend(p.stdout.split())

    def our_sendcmd():
        for _ in range(15):
            p = gsat.run("sendcmd", "-c", "PID?", "-m", address)
            results["sendcmd"].append((p.returncode, p.stdout))

    threads = [threading.Thread(target=fn) for fn in (classic_client, our_client, our_sendcmd)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    assert results["classic"] == ["%d;%s" % (pid, box)] * 15
    assert results["sendcmd"] == [(0, "%d\n" % pid)] * 15
    ids = results["ours"]
    assert len(ids) == 15 and len(set(ids)) == 15
    # Answered once: each gqsub'ed job exists once and nothing is left over.
    jobs = os.listdir(os.path.join(gsat.g, "gschedule", "jobs"))
    assert len(jobs) == 16
    assert os.listdir(box) == []


def test_kill_9_of_controller_and_sputnik_leaves_no_orphaned_queue(sysv):
    gsat = sysv
    job = gsat.job("long.sh", "sleep 600\n")
    job_id = gsat.qsub(job)
    gsat.wait_state(job_id, "running")
    gsat.wait_for(lambda: gsat.attr(job_id, "sputnik.pid").isdigit(), what="sputnik.pid")
    sputnik = int(gsat.attr(job_id, "sputnik.pid"))
    controller = gsat.controller_pid()
    gsat.wait_for(lambda: str(sputnik) in registry(gsat), what="the sputnik's queue")
    before = registry(gsat)
    dead = keys_of(gsat, [before[str(sputnik)], before[str(controller)]])
    assert dead <= kernel_keys()
    for pid in (sputnik, controller):
        os.kill(pid, signal.SIGKILL)
    for pid in (sputnik, controller):
        gsat.wait_for(lambda pid=pid: _gone(pid), what="process %d to die" % pid)
    assert dead <= kernel_keys()  # nobody has cleaned up yet
    gsat.run("gsatlcd", "--start", check=True)
    assert not dead & kernel_keys(), "queues of killed processes are still there"
    after = registry(gsat)
    assert str(sputnik) not in after and str(controller) not in after
    # Every queue this installation knows has a live owner.
    for name in after:
        assert os.path.exists("/proc/%s" % name.split(".")[0]), name
    assert keys_of(gsat, after.values()) <= kernel_keys()


def test_stop_removes_every_queue(sysv):
    gsat = sysv
    gsat.wait_for(lambda: len(registry(gsat)) >= 2, what="controller and forwarder queues")
    numbers = registry(gsat).values()
    keys = keys_of(gsat, numbers)
    assert keys <= kernel_keys()
    assert gsat.stop().returncode == 0
    gsat.wait_for(lambda: not keys & kernel_keys(), timeout=15, what="the queues to go")
    assert registry(gsat) == {}


def test_messages_over_msgmax_arrive_whole(sysv):
    gsat = sysv
    # A job path plus options longer than msgmax (8192): QSUB goes by box.
    deep = gsat.jobs
    while len(deep) < 3500:
        deep = os.path.join(deep, "d" * 200)
    os.makedirs(deep)
    job = os.path.join(deep, "j" * 200 + ".sh")
    with open(job, "w") as f:
        f.write("#!/bin/bash\necho out; echo err >&2\n")
    os.chmod(job, 0o755)
    out, err = os.path.join(deep, "o" * 200), os.path.join(deep, "e" * 200)
    p = gsat.run("gqsub", "-N", "big", "-o", out, "-e", err, job)
    assert p.returncode == 0, p.stderr
    job_id = p.stdout.strip()
    assert len(job) + len(out) + len(err) > 8192
    assert gsat.wait_state(job_id, ("finished", "failed")) == "finished"
    assert gsat.attr(job_id, "job.name") == "big"
    gsat.wait_for(lambda: os.path.exists(out) and os.path.exists(err), what="the job's output files")

    # Trigger arguments near and over the limit, from inside a job.
    out = str(gsat.tmp / "svc")
    os.makedirs(out)
    gsat.service("BIG", "svc", 'printf "%%s" "$GSAT_EVENT_ARGS" > "%s/args.$$"\n' % out)
    sizes = (8000, 8150, 8200, 20000)
    body = "".join('trigger --wait BIG "$(head -c %d /dev/zero | tr "\\0" a)%d" || exit 9\n' % (n, n)
                   for n in sizes)
    job_id = gsat.qsub(gsat.job("trig.sh", body))
    assert gsat.wait_state(job_id, ("finished", "failed"), timeout=60) == "finished", \
        gsat.attr(job_id, "job.stderr")
    got = []
    for name in os.listdir(out):
        with open(os.path.join(out, name)) as f:
            got.append(f.read())
    assert sorted(got, key=len) == ["a" * n + str(n) for n in sizes]


# A client of ours with a queue inbox: asks ALIVE? twice, with the answer
# address naming its own PID, then the PID read from stdin; prints whether
# the first answer came with a wake-up, then the second answer.
_ASKER = r"""
import sys, time
from gsatellite import protocol, transport
from gsatellite.transport import wake
to = transport.address(sys.argv[1])
sleeper = wake.Sleeper()
inbox = transport.open_inbox(tag="t", kind=transport.answer_kind(to))
_, host, name, n = inbox.address.split(":")
def ask(pid, woken):
    transport.send(to, protocol.message(protocol.ALIVE, "sysv:%s:%s:%s" % (host, pid, n)))
    transport.wake_owner(to)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        got = inbox.receive()
        if got is not None:
            return got
        if woken:
            # Only the controller's wake-up ends this sleep early.
            if sleeper.sleep(deadline - time.monotonic()) is None:
                return "no wake-up"
        else:
            time.sleep(0.01)
    return "no answer"
print(ask(name, True), flush=True)
stranger = sys.stdin.readline().strip()
print(ask(stranger, False), flush=True)
inbox.close()
"""


def test_an_answer_queue_naming_a_stranger_wakes_only_its_owner(sysv, procs):
    """Broke: the controller answered ``sysv:HOST:PID:N`` by waking PID
    without asking when it started (queues had no ``changed``), so a
    stranger at a dead client's PID, stopped by its user, was continued.
    The stranger here starts right after the queue was made: only the
    start time the registry records for the queue's owner is woken."""
    gsat = sysv
    env = dict(gsat.env)
    if not INSTALLED:
        env["PYTHONPATH"] = LIB
    asker = subprocess.Popen([sys.executable, "-c", _ASKER, controller_queue(gsat)], env=env,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    procs.append(asker)
    assert asker.stdout.readline().startswith("YES;")  # its owner was woken
    stranger = subprocess.Popen(["sleep", "300"])
    procs.append(stranger)
    os.kill(stranger.pid, signal.SIGSTOP)
    gsat.wait_for(lambda: _state(stranger.pid) == "T", what="the stranger to stop")
    asker.stdin.write("%d\n" % stranger.pid)
    asker.stdin.flush()
    assert asker.stdout.readline().startswith("YES;")
    assert _state(stranger.pid) == "T"
    assert asker.wait(20) == 0


def _state(pid):
    with open("/proc/%d/stat" % pid) as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def test_a_fifo_as_the_queue_secret_falls_back_to_boxes(gsat):
    """A FIFO planted as the registry's secret: the controller starts on
    message boxes with one line in its log (it hung for ever opening it),
    and jobs run."""
    gsat.env["GSAT_TRANSPORT"] = "sysv"
    d = os.path.join(gsat.g, "var", "run", gsat.env.get("GSAT_HOSTNAME") or os.uname().nodename, "sysv")
    os.makedirs(d)
    os.mkfifo(os.path.join(d, "secret"))
    p = gsat.run("gsatlcd", "--start", timeout=30)
    assert p.returncode == 0, p.stderr
    job = gsat.qsub(gsat.job("t.job", "true\n"))
    assert gsat.wait_state(job, ("finished", "failed")) == "finished"
    with open(os.path.join(gsat.g, "var", "log", "gsatlc.log")) as f:
        log = f.read()
    assert log.count("cannot make a System V queue") == 1 and "using file message boxes" in log
