"""Process names as the classic tools had them (issue 12 item 8).

``pgrep gsatlc``, ``pgrep sigfwd`` and ``pgrep sputnik`` find the running
controller, signal forwarder and a job's sputnik by their process names,
and a sputnik's command line does not contain ``gsatlc`` (it is forked from
the controller without exec), so ``pkill -f gsatlc`` would not take the
jobs' supervision with it.  Checked on the real processes, through /proc
and, where it is installed, pgrep itself.
"""

import os
import shutil
import subprocess


def _comm(pid):
    with open("/proc/%d/comm" % pid) as f:
        return f.read().rstrip("\n")


def _cmdline(pid):
    with open("/proc/%d/cmdline" % pid, "rb") as f:
        return f.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()


def _pgrep(*args):
    p = subprocess.run(["pgrep"] + list(args), capture_output=True, text=True, timeout=30)
    return [int(x) for x in p.stdout.split()]


def test_daemons_are_found_by_name(gsat):
    gsat.start()
    a = gsat.qsub(gsat.job("long.job", "sleep 60\n"))
    gsat.wait_for(lambda: gsat.attr(a, "job.pid"), what="job running")
    controller = gsat.controller_pid()
    with open(os.path.join(gsat.g, "var", "run", gsat.host(), "sigfwd.pid")) as f:
        sigfwd = int(f.read())
    sputnik = int(gsat.attr(a, "sputnik.pid"))

    assert _comm(controller) == "gsatlc"
    assert _comm(sigfwd) == "sigfwd"
    assert _comm(sputnik) == "sputnik"
    assert "gsatlc" in _cmdline(controller)
    assert _cmdline(sputnik) == "sputnik %s" % a
    assert "gsatlc" not in _cmdline(sputnik)

    if shutil.which("pgrep"):
        # Other tests' daemons may run too: ours must be among those found.
        assert controller in _pgrep("-x", "gsatlc")
        assert controller in _pgrep("gsatlc")
        assert sigfwd in _pgrep("-x", "sigfwd")
        assert sputnik in _pgrep("-x", "sputnik")
        assert sputnik not in _pgrep("-f", "gsatlc")
        assert controller in _pgrep("-f", "gsatlc")
