"""Bad input to the daemons, and a broken state directory.

Every bad message must be discarded with a clear log line, must not be
answered, and must leave the daemon serving (checked with ``ALIVE?``
afterwards).  The same holds for a request whose answer box does not
exist and for a daemon whose own box is removed under it.  Start-up must
cope with a stale ``gsatlcPid`` of a dead process and refuse an unusable
``$HOME/.gsatellite`` with exit code 79 and one line on stderr.
"""

import os
import shutil
import signal
import subprocess
import sys

import pytest

LIB = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "lib")


def _read(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def our_host(gsat):
    return gsat.run(sys.executable, "-c", "import sys; sys.path.insert(0, %r); "
                    "from gsatellite import paths; print(paths.hostname())" % LIB, check=True).stdout.strip()


def publish_raw(box, data):
    """Publish raw bytes as a message file, the classic way (hidden, rename)."""
    name = "message.bad%05d" % (len(os.listdir(box)) + os.getpid() % 100000)
    hidden = os.path.join(box, "." + name)
    with open(hidden, "wb") as f:
        f.write(data)
    os.rename(hidden, os.path.join(box, name))
    return os.path.join(box, name)


def alive(gsat, box):
    p = gsat.run("sendcmd", "-c", "ALIVE?", "-m", box, "--timeout", "20")
    return (p.returncode, p.stdout, p.stderr)


def temp_box(gsat):
    d = os.path.join(gsat.g, "mboxes", gsat.host())
    box = os.path.join(d, "answerBx.inbox")
    os.mkdir(box, 0o700)
    return box


def daemon(gsat, which):
    """(box, pid, log file) of the controller or of this host's sigfwd."""
    if which == "gsatlc":
        return gsat.controller_box(), gsat.controller_pid(), os.path.join(gsat.g, "var", "log", "gsatlc.log")
    host = gsat.host()
    pid = int(_read(os.path.join(gsat.g, "var", "run", host, "sigfwd.pid")).strip())
    box = os.path.join(gsat.g, "mboxes", host, "%d.inbox" % pid)
    return box, pid, os.path.join(gsat.g, "var", "log", host, "sigfwd.log")


BAD = {
    "empty": (lambda answer: b"", "empty message"),
    "binary": (lambda answer: b"ALIVE?\0\xff\xfe;" + answer.encode() + b"\n", "not one line of text"),
    "two_lines": (lambda answer: b"ALIVE?;" + answer.encode() + b"\nPID?;" + answer.encode() + b"\n",
                  "not one line of text"),
    "huge": (lambda answer: b"ALIVE? " + b"x" * 70000 + b";" + answer.encode() + b"\n",
             "larger than 65536 bytes"),
    "no_semicolon": (lambda answer: b"ALIVE? " + answer.encode() + b"\n", "malformed message (no ';')"),
}


@pytest.mark.parametrize("which", ["gsatlc", "sigfwd"])
@pytest.mark.parametrize("kind", sorted(BAD))
def test_bad_message_is_discarded_and_daemon_keeps_serving(gsat, which, kind):
    gsat.start()
    box, pid, log = daemon(gsat, which)
    answer_box = temp_box(gsat)
    make, reason = BAD[kind]
    path = publish_raw(box, make(answer_box))
    if which == "gsatlc":
        os.kill(pid, signal.SIGCONT)  # sigfwd is never signalled: it polls
    gsat.wait_for(lambda: not os.path.exists(path), what="%s to take the bad message" % which)
    gsat.wait_for(lambda: reason in _read(log), timeout=10, what="log line %r" % reason)
    line = [x for x in _read(log).splitlines() if reason in x][-1]
    if kind != "no_semicolon":
        assert os.path.basename(path) in line
    assert alive(gsat, box) == (0, "YES\n", "")
    # ALIVE? was answered after the bad message was taken, so had the bad
    # message been answered, the answer would be here by now.
    assert os.listdir(answer_box) == []
    assert os.listdir(box) == []
    assert "Traceback" not in _read(log)


def test_request_with_missing_answer_box(gsat):
    gsat.start()
    box, pid, log = daemon(gsat, "gsatlc")
    missing = os.path.join(gsat.g, "mboxes", gsat.host(), "gone1234.inbox")
    path = publish_raw(box, ("PID?;%s\n" % missing).encode())
    os.kill(pid, signal.SIGCONT)
    gsat.wait_for(lambda: not os.path.exists(path), what="gsatlc to take the message")
    gsat.wait_for(lambda: "cannot answer" in _read(log), timeout=10, what="a 'cannot answer' log line")
    line = [x for x in _read(log).splitlines() if "cannot answer" in x][-1]
    assert missing in line and repr(str(pid)) in line
    assert not os.path.exists(missing), "the daemon must not create someone else's answer box"
    assert alive(gsat, box) == (0, "YES\n", "")
    assert "Traceback" not in _read(log)


@pytest.mark.parametrize("which", ["gsatlc", "sigfwd"])
def test_own_box_removed_under_the_daemon(gsat, which):
    gsat.start()
    box, pid, log = daemon(gsat, which)
    shutil.rmtree(box)
    if which == "gsatlc":
        os.kill(pid, signal.SIGCONT)
    gsat.wait_for(lambda: os.path.isdir(box), timeout=10, what="%s to recreate its box" % which)
    assert "vanished; recreating" in _read(log)
    assert alive(gsat, box) == (0, "YES\n", "")
    if which == "sigfwd":
        # The alias still names the (recreated) real box.
        alias = os.path.join(os.path.dirname(box), "sigfwd.inbox")
        assert alive(gsat, alias) == (0, "YES\n", "")
    assert gsat.run("gsatlcd", "--status").returncode == 0


def test_gsatlcd_start_with_stale_pid_file_of_dead_process(gsat):
    host = our_host(gsat)
    os.makedirs(gsat.g, mode=0o700, exist_ok=True)
    dead = subprocess.Popen(["true"])
    dead.wait()
    # Fresh ctime: by the liveness rule alone this controller looks alive.
    with open(os.path.join(gsat.g, "gsatlcHostName"), "w") as f:
        f.write(host + "\n")
    with open(os.path.join(gsat.g, "gsatlcPid"), "w") as f:
        f.write("%d\n" % dead.pid)
    p = gsat.run("gsatlcd", "--start")
    assert (p.returncode, p.stderr) == (0, "")
    pid = gsat.controller_pid()
    assert pid is not None and pid != dead.pid
    assert alive(gsat, gsat.controller_box()) == (0, "YES\n", "")


def test_gsatlcd_start_when_state_dir_is_a_file(gsat):
    with open(gsat.g, "w") as f:
        f.write("not a directory\n")
    p = gsat.run("gsatlcd", "--start")
    assert p.returncode == 79
    assert p.stdout == ""
    assert p.stderr.startswith("gsatlcd: ") and p.stderr.count("\n") == 1, p.stderr
    assert gsat.g in p.stderr
    assert _read(gsat.g) == "not a directory\n"


def _readonly_start(gsat):
    """gsatlcd --start with G bind-mounted read-only in a private mount ns."""
    os.makedirs(gsat.g, mode=0o700, exist_ok=True)
    probe = subprocess.run(["unshare", "--mount", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("unshare --mount fails here: %s" % probe.stderr.decode().strip())
    rc_file = os.path.join(gsat.jobs, "rc")
    script = (
        'set -e; mount --bind "$G" "$G"; mount -o remount,bind,ro "$G"; '
        'set +e; gsatlcd --start; echo "$?" > "$RC"'
    )
    p = subprocess.run(["unshare", "--mount", "bash", "-c", script], env=dict(gsat.env, G=gsat.g, RC=rc_file),
                       capture_output=True, text=True, timeout=60, cwd=gsat.jobs)
    status = _read(rc_file).strip()
    if not status.isdigit():
        pytest.skip("read-only bind mount not possible here: %s" % p.stderr.strip())
    return int(status), p.stdout, p.stderr


def test_gsatlcd_start_with_read_only_state_dir(gsat):
    code, out, err = _readonly_start(gsat)
    assert code == 79
    assert out == ""
    assert err.startswith("gsatlcd: ") and err.count("\n") == 1, err
    assert gsat.controller_pid() is None


def test_gsatlcd_start_with_read_only_state_dir_that_has_a_log(gsat):
    os.makedirs(os.path.join(gsat.g, "var", "log"), mode=0o700)
    with open(os.path.join(gsat.g, "var", "log", "gsatlc.log"), "w"):
        pass
    code, out, err = _readonly_start(gsat)
    assert (code, out) == (79, "")
    assert err.startswith("gsatlcd: ") and err.count("\n") == 1, err


def test_gsatlcd_start_with_malformed_configuration(gsat):
    os.makedirs(gsat.g, mode=0o700)
    conf = os.path.join(gsat.g, "gsatellite.conf")
    with open(conf, "w") as f:
        f.write("# fine\nscheduler nobatch\n")
    p = gsat.run("gsatlcd", "--start")
    assert p.returncode == 70
    assert p.stderr.startswith("gsatlcd: ") and p.stderr.count("\n") == 1, p.stderr
    assert "%s:2" % conf in p.stderr
    assert gsat.controller_pid() is None
    assert "Traceback" not in _read(os.path.join(gsat.g, "var", "log", "gsatlc.log"))
