"""The job environment ``job.env`` (docs/protocol.md §7).

Values are written as ``export NAME="value"`` lines with ``\\``, ``"``, ``$``
and backquote escaped, which is exactly what bash keeps special inside double
quotes; a newline inside double quotes is literal.  So any value survives
being sourced by bash, which the classic writer did not guarantee.
"""

import os
import pwd

from . import jobtypes, paths
from .fsutil import write_atomic


def quote(value):
    out = []
    for ch in value:
        if ch in '\\"$`':
            out.append("\\")
        out.append(ch)
    return '"' + "".join(out) + '"'


def login_name():
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return os.environ.get("LOGNAME") or os.environ.get("USER") or str(os.getuid())


def job_path_variable():
    """PATH for the job: ours, plus gsatellite's bin/ so ``trigger`` works."""
    value = os.environ.get("PATH", os.defpath)
    bindir = paths.bin_dir()
    if bindir not in value.split(os.pathsep):
        value = value + os.pathsep + bindir if value else bindir
    return value


def build(job_id, job_name, job_type, host):
    env = {
        "GSAT_JOBNAME": job_name,
        "GSAT_O_WORKDIR": paths.job_tmp_dir(job_id),
        "GSAT_O_HOME": paths.home(),
        "GSAT_O_LOGNAME": login_name(),
        "GSAT_O_JOBID": job_id,
        "GSAT_O_HOST": host,
        "GSAT_O_PATH": job_path_variable(),
    }
    env.update(jobtypes.get(job_type).environment())
    return env


def render(env):
    return "".join("export %s=%s\n" % (k, quote(v)) for k, v in env.items())


def write(job_id, env):
    write_atomic(paths.job_file(job_id, "job.env"), render(env))
