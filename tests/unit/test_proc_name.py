"""A process's name, its command line and its own start time are kept after
the first look (a sputnik names itself twice per job): still right after
every rename, and re-read in a forked child, whose PID and start differ."""

import json
import os
import subprocess
import sys

from gsatellite import pidref

LIB = os.path.dirname(os.path.dirname(pidref.__file__))

# Run in a child interpreter: the names must not stick to pytest.
SCRIPT = r"""
import json, os, sys
sys.path.insert(0, %(lib)r)
from gsatellite import pidref, proc

def look(pid):
    with open("/proc/%%d/comm" %% pid) as f:
        comm = f.read().strip()
    with open("/proc/%%d/cmdline" %% pid, "rb") as f:
        cmdline = f.read().rstrip(b"\0").decode()
    return comm, cmdline

out = {}
proc.set_name("sputnik", "00001")
out["first"] = look(os.getpid())
proc.set_name("sputnik", "spare")
out["second"] = look(os.getpid())
proc.set_name("gsatlc")
out["renamed"] = look(os.getpid())[0]
proc.set_name("sputnik", "00002")
out["back"] = look(os.getpid())
mine = pidref.own_start_time()
out["own"] = [mine, pidref.start_time(os.getpid())]
# The child must start at least a tick later than this process did, so a
# start time kept from before the fork cannot pass for the child's.
tick = os.sysconf("SC_CLK_TCK")
while True:
    with open("/proc/uptime") as f:
        if float(f.read().split()[0]) * tick > mine + 2:
            break
r, w = os.pipe()
child = os.fork()
if child == 0:
    os.close(r)
    proc.set_name("sputnik", "kid")
    kid = {"look": look(os.getpid()), "own": pidref.own_start_time(),
           "fresh": pidref.start_time(os.getpid())}
    proc.set_name("sigfwd")
    kid["renamed"] = look(os.getpid())[0]
    os.write(w, json.dumps(kid).encode())
    os._exit(0)
os.close(w)
with os.fdopen(r, "rb") as f:
    data = f.read()
os.waitpid(child, 0)
out["kid"] = json.loads(data)
out["parent_after"] = look(os.getpid())
print(json.dumps(out))
"""


def test_names_and_own_start_time_are_kept_per_process():
    p = subprocess.run([sys.executable, "-c", SCRIPT % {"lib": LIB}], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["first"] == ["sputnik", "sputnik 00001"]
    assert out["second"] == ["sputnik", "sputnik spare"]
    assert out["renamed"] == "gsatlc"
    # Named "sputnik" again after another name: the kept name is not stale.
    assert out["back"] == ["sputnik", "sputnik 00002"]
    assert out["own"][0] == out["own"][1] is not None
    kid = out["kid"]
    assert kid["look"][1] == "sputnik kid"
    assert kid["look"][0] == "sputnik"
    assert kid["renamed"] == "sigfwd"
    # The child's own start time is its own, not its parent's kept one.
    assert kid["own"] == kid["fresh"] != out["own"][0]
    assert out["parent_after"] == ["sputnik", "sputnik 00002"]
