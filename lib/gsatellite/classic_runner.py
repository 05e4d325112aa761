"""The classic job runner, ``sputnikRunJob JOB ID PARENTPID PARENTINBOX``.

Our own sputnik starts jobs itself (fork + exec, no interpreter per job);
this runner exists for a classic sputnik that finds ``sputnikRunJob`` on
PATH.  It speaks the classic exchange with its parent: ``JOB_CHILD_PID``,
``STARTED;`` and ``TERMINATED EXIT;``, and, as the classic runner did (a
classic sputnik does not), writes ``job.stop`` and ``job.exit``.  Like the
classic runner it leaves the current run's output in ``job.stdout`` and
``job.stderr``; the earlier runs' output is kept beside them (:mod:`.runs`).
"""

import os
import subprocess
import time

from . import jobenv, paths, proc, runs, transport
from . import protocol as P
from .fsutil import append_line, read_first_line, write_atomic
from .job import Job
from .transport import wake


def _tell(box, parent, message):
    try:
        transport.send(box, message)
    except OSError:  # transport.TransportError included
        return
    # The classic interface names the parent's PID: wake that one (never a
    # group or every process for a PID that is not a positive number).
    wake.kill(parent, wake.WAKE)


def main(job, job_id, parent_pid, parent_box):
    os.umask(0o077)
    _tell(parent_box, parent_pid, P.runner_child_pid(os.getpid()))
    job_type = read_first_line(paths.job_file(job_id, "job.type"), "") or "default"
    env = jobenv.build(job_id, os.path.basename(job), job_type, paths.hostname(), Job(job_id).proxy_request)
    jobenv.write(job_id, env)
    full = jobenv.process_environment(env)
    with open(job, "rb") as f:
        argv = [job] if f.read(2) == b"#!" else ["/bin/bash", job]
    os.chmod(job, 0o700)
    try:
        runs.rotate(paths.job_dir(job_id))
    except OSError:
        pass  # appending instead loses nothing
    with open(paths.job_file(job_id, "job.stdout"), "ab") as out, \
            open(paths.job_file(job_id, "job.stderr"), "ab") as errf:
        child = subprocess.Popen(argv, cwd=os.path.dirname(job), env=full, stdin=subprocess.DEVNULL,
                                 stdout=out, stderr=errf, preexec_fn=proc.reset_signals)
    append_line(paths.job_file(job_id, "job.start"), str(int(time.time())))
    write_atomic(paths.job_file(job_id, "job.pid"), "%d\n" % child.pid)
    _tell(parent_box, parent_pid, P.runner_started())
    value = child.wait()
    value = 128 - value if value < 0 else value
    append_line(paths.job_file(job_id, "job.stop"), str(int(time.time())))
    write_atomic(paths.job_file(job_id, "job.exit"), "%d\n" % value)
    _tell(parent_box, parent_pid, P.runner_terminated(value))
    return 0
