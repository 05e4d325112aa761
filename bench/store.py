"""Fill a gsatellite job store with ended jobs, directly on disk.

The layout is the classic one (PROTOCOL.md section 4), so the Python and the
classic gqstat read it alike.  Going through the controller would take
minutes for 10,000 jobs and measure the wrong thing.  ``job.pid`` and
``sputnik.pid`` hold a number above any kernel PID limit, so nothing can ever
signal a real process through them.  The job files are dated when their job
ended (``now`` onwards), long before a run of the bench.
"""

import os

NO_PID = "99999999"


def _write(path, text):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def fill(gsat_dir, n, host, state="finished", now=1700000000):
    """Add ``n`` ended jobs after the ones already there; returns their ids."""
    old = os.umask(0o077)
    try:
        return _fill(gsat_dir, n, host, state, now)
    finally:
        os.umask(old)


def _fill(gsat_dir, n, host, state, now):
    store = os.path.join(gsat_dir, "gschedule")
    for d in ("jobs", "queued", "running", "finished", "failed", "held"):
        os.makedirs(os.path.join(store, d), exist_ok=True)
    counter = os.path.join(store, "nextJobId")
    try:
        with open(counter) as f:
            first = int(f.read().strip() or 0)
    except OSError:
        first = 0
    home = os.path.dirname(gsat_dir)
    ids = []
    for k in range(first, first + n):
        job_id = "%05d" % k
        name = "bench-%s.job" % job_id
        jdir = os.path.join(store, "jobs", job_id + ".d")
        tmp = os.path.join(jdir, "jobtmp")
        os.makedirs(tmp)
        script = os.path.join(tmp, name)
        _write(script, "#!/bin/sh\ntrue\n")
        os.chmod(script, 0o700)
        os.symlink(script, os.path.join(jdir, job_id))
        files = {
            "jobId": job_id, "job.id": job_id, "job.name": name, "job.type": "default",
            "job.state": state, "job.execHost": host, "job.pid": NO_PID, "sputnik.pid": NO_PID,
            "job.start": "%d\n" % (now + k), "job.stop": "%d\n" % (now + k + 1),
            "job.exit": "0" if state == "finished" else "1",
            "job.stdout": "", "job.stderr": "", "job.restarts": "0",
            "job.env": "".join('export %s="%s"\n' % kv for kv in (
                ("GSAT_JOBNAME", name), ("GSAT_O_WORKDIR", tmp), ("GSAT_O_HOME", home),
                ("GSAT_O_LOGNAME", "bench"), ("GSAT_O_JOBID", job_id), ("GSAT_O_HOST", host),
                ("GSAT_O_PATH", "/usr/bin:/bin"))),
        }
        stop = now + k + 1
        for fname, text in files.items():
            path = os.path.join(jdir, fname)
            _write(path, text + ("\n" if text and not text.endswith("\n") else ""))
            # Dated when the job ended, as in a store whose jobs ran then
            # (gqstat's listing cache takes a job a minute after it ended).
            os.utime(path, (stop, stop))
        os.symlink(jdir, os.path.join(store, state, job_id + ".d"))
        ids.append(job_id)
    _write(counter, "%d\n" % (first + n))
    return ids
