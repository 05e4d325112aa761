"""Entry points of the daemons and internal commands.

``sputnikd JOB JOBDIR ID``, ``sputnik JOB JOBDIR ID`` and
``sputnikRunJob JOB ID PARENTPID PARENTINBOX`` keep their classic command
lines, because a classic controller finds them on PATH.
"""

import os
import sys

from .common import EX_USAGE, err, program


def gsatlc(argv=None):
    from .. import controller, proc

    proc.set_name("gsatlc")
    return controller.main()


def sigfwd(argv=None):
    from .. import proc, sigfwd as forwarder

    proc.set_name("sigfwd")
    return forwarder.main()


def _job_args(argv):
    prog = program()
    if len(argv) != 3:
        err(prog, "usage: %s JOB JOBDIR ID" % prog)
        return None
    from .. import paths
    from ..jobstore import canonical_id

    job, job_dir, job_id = argv
    cid = canonical_id(job_id)
    if cid is None or os.path.realpath(job_dir) != os.path.realpath(paths.job_dir(cid)):
        err(prog, "%s is not the directory of job %s" % (job_dir, job_id))
        return None
    return job, cid


def sputnikd(argv=None):
    args = _job_args(sys.argv[1:] if argv is None else argv)
    if args is None:
        return EX_USAGE
    from .. import sputnik

    sputnik.launch(*args)
    return 0


def sputnik(argv=None):
    args = _job_args(sys.argv[1:] if argv is None else argv)
    if args is None:
        return EX_USAGE
    from .. import sputnik as supervisor

    try:
        os.setsid()
    except OSError:
        pass  # already a session leader
    return supervisor.supervise(*args)


def sputnik_run_job(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 4:
        err(program(), "usage: sputnikRunJob JOB ID PARENTPID PARENTINBOX")
        return EX_USAGE
    from .. import classic_runner as runner

    return runner.main(*argv)
