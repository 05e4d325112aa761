"""Many clients submitting at the same moment (PROTOCOL.md §3, §4, §5).

Ten client processes each call ``gqsub`` ten times.  They are started first
and wait on a shared FIFO; one write releases them together, so the
controller gets a burst of messages and wake-ups from all sides.  What must
hold: every call prints exactly one id, the 100 ids are distinct and
consecutive, and the queue drains by itself (all jobs finished) with nothing
from the outside to wake the controller: a lost wake-up would leave jobs
queued forever.  Three rounds run on one controller with the fifo scheduler
(the harder case: each job's end must start the next one), one with nobatch.
"""

import os
import subprocess

import pytest

CLIENTS = 10
CALLS = 10
ROUNDS = 3
STATES = ("queued", "running", "held", "finished", "failed")

# Announce readiness, block on the FIFO until released, then submit; one
# result line per call: "EXIT:STDOUT" (a second stdout line breaks the form).
CLIENT = r'''
touch "$DIR/ready.$N"
read -r _ < "$DIR/go"
for i in $(seq "$CALLS"); do
    out=$(gqsub "$JOB" 2>>"$DIR/err.$N")
    echo "$?:$out" >> "$DIR/res.$N"
done
'''


def _round(gsat, job, directory):
    os.makedirs(directory)
    fifo = os.path.join(directory, "go")
    os.mkfifo(fifo)
    # Opened read-write so that neither side blocks in open(); the clients
    # block in read() until the release below.
    gate = os.open(fifo, os.O_RDWR)
    procs = []
    try:
        for n in range(CLIENTS):
            env = dict(gsat.env, DIR=directory, N=str(n), JOB=job, CALLS=str(CALLS))
            p = subprocess.Popen(["bash", "-c", CLIENT], env=env, cwd=gsat.jobs)
            procs.append(p)
            gsat.extra_pids.append(p.pid)
        gsat.wait_for(lambda: len([f for f in os.listdir(directory) if f.startswith("ready.")]) == CLIENTS,
                      what="all clients ready")
        os.write(gate, b"\n" * CLIENTS)
        codes = [p.wait(timeout=240) for p in procs]
    finally:
        os.close(gate)
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert codes == [0] * CLIENTS
    results = []
    for n in range(CLIENTS):
        with open(os.path.join(directory, "res.%d" % n)) as f:
            results.extend(f.read().splitlines())
        with open(os.path.join(directory, "err.%d" % n)) as f:
            assert f.read() == "", "client %d wrote to stderr" % n
    assert len(results) == CLIENTS * CALLS
    bad = [r for r in results if not (r.startswith("0:") and r[2:].isdigit() and len(r) == 7)]
    assert not bad, bad
    return [r[2:] for r in results]


def _links(gsat, state):
    return sorted(d[:-2] for d in os.listdir(os.path.join(gsat.g, "gschedule", state)))


@pytest.mark.slow
@pytest.mark.parametrize("scheduler,rounds", [("fifo", ROUNDS), ("nobatch", 1)])
def test_burst_of_submissions_drains(gsat, scheduler, rounds):
    gsat.start(scheduler=scheduler)
    job = gsat.job("t.job", "true\n")
    total = CLIENTS * CALLS
    for r in range(rounds):
        ids = _round(gsat, job, str(gsat.tmp / ("round%d" % r)))
        assert len(set(ids)) == total, "an id was handed out twice"
        assert sorted(ids) == ["%05d" % i for i in range(r * total, (r + 1) * total)]
        for job_id in sorted(ids):
            assert gsat.wait_state(job_id, ("finished", "failed"), timeout=120) == "finished", job_id
        assert gsat.controller_pid() is not None
    with open(os.path.join(gsat.g, "gschedule", "nextJobId")) as f:
        assert f.read().strip() == str(rounds * total)
    everything = ["%05d" % i for i in range(rounds * total)]
    gsat.wait_for(lambda: _links(gsat, "finished") == everything, what="all finished links")
    for state in ("queued", "running", "held", "failed"):
        assert _links(gsat, state) == [], state
    assert all(gsat.attr(i, "job.exit") == "0" for i in everything)
