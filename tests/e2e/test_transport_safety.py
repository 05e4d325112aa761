"""The real controller against hostile entries in its box and hostile answer
addresses (issue 10).

Regressions:
* ``mkfifo BOX/message.x; kill -CONT PID`` left gsatlc blocked in open()
  for ever (and SIGTERM blocked with it, so only ``kill -9`` ended it);
* a message ``ALIVE?;/etc`` made the controller create ``/etc/message.X``;
* an answer box ``/tmp/x/vm/1.inbox`` made it send SIGCONT to PID 1;
* QWAIT's HOST became a path part of a signal forwarder's address.
Each test ends with an ``ALIVE?`` round trip: messages are handled in
order, so once it is answered the hostile message has been handled too.
"""

import os
import signal
import subprocess

from .test_daemon_bad_input import _read, publish_raw


def log_of(gsat):
    return _read(os.path.join(gsat.g, "var", "log", "gsatlc.log"))


def alive(gsat):
    p = gsat.run("sendcmd", "-c", "ALIVE?", "-m", gsat.controller_box(), "--timeout", "10")
    return (p.returncode, p.stdout, p.stderr)


def state(pid):
    with open("/proc/%d/stat" % pid) as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def test_fifo_named_like_a_message_does_not_block_the_controller(gsat):
    gsat.start()
    box, pid = gsat.controller_box(), gsat.controller_pid()
    os.mkfifo(os.path.join(box, "message.x"), 0o600)
    os.kill(pid, signal.SIGCONT)
    assert alive(gsat) == (0, "YES\n", "")
    assert not os.path.exists(os.path.join(box, "message.x"))
    assert "message.x discarded: not a message file: a FIFO" in log_of(gsat)
    p = gsat.stop()
    assert p.returncode == 0, p.stderr
    gsat.wait_for(lambda: not os.path.exists("/proc/%d" % pid) or state(pid) == "Z", timeout=10,
                  what="gsatlc to exit")
    assert "Traceback" not in log_of(gsat)


def test_answer_address_outside_the_boxes_gets_nothing(gsat, tmp_path):
    gsat.start()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    publish_raw(gsat.controller_box(), b"ALIVE?;%s\n" % str(elsewhere).encode())
    os.kill(gsat.controller_pid(), signal.SIGCONT)
    assert alive(gsat) == (0, "YES\n", "")
    assert os.listdir(str(elsewhere)) == []
    assert "refusing to answer 'YES'" in log_of(gsat)
    assert "Traceback" not in log_of(gsat)


def test_answer_box_outside_g_named_after_a_pid_wakes_nobody(gsat, tmp_path, procs):
    gsat.start()
    stopped = subprocess.Popen(["sleep", "300"])
    procs.append(stopped)
    os.kill(stopped.pid, signal.SIGSTOP)
    gsat.wait_for(lambda: state(stopped.pid) == "T", timeout=10, what="sleep to stop")
    answer_box = tmp_path / "x" / gsat.host() / ("%d.inbox" % stopped.pid)
    answer_box.mkdir(parents=True)
    publish_raw(gsat.controller_box(), b"ALIVE?;%s\n" % str(answer_box).encode())
    os.kill(gsat.controller_pid(), signal.SIGCONT)
    gsat.wait_for(lambda: "refusing to answer" in log_of(gsat), timeout=10, what="the refusal in the log")
    assert state(stopped.pid) == "T"
    assert alive(gsat) == (0, "YES\n", "")
    assert state(stopped.pid) == "T"
    assert os.listdir(str(answer_box)) == []


def test_qwait_with_a_host_that_is_not_a_host_name_registers_nothing(gsat):
    gsat.start()
    job = gsat.qsub(gsat.job("gate.job", "while [ ! -e go ]; do sleep 0.05; done\n"))
    gsat.wait_state(job, "running")
    p = gsat.run("sendcmd", "-c", "QWAIT %s /tmp/gqwait.1.fifo ../../../tmp" % job,
                 "-m", gsat.controller_box(), "--timeout", "10")
    assert p.returncode == 0 and p.stdout.startswith("qwait failed"), (p.stdout, p.stderr)
    assert not os.path.exists(os.path.join(gsat.job_dir(job), "job.waiters"))
    open(os.path.join(gsat.job_dir(job), "jobtmp", "go"), "w").close()
    gsat.wait_state(job, "finished")
    assert alive(gsat) == (0, "YES\n", "")
