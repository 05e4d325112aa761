"""The job environment ``job.env`` (docs/protocol.md §7).

Values are written as ``export NAME="value"`` lines with ``\\``, ``"``, ``$``
and backquote escaped, which is exactly what bash keeps special inside double
quotes; a newline inside double quotes is literal.  So any value survives
being sourced by bash, which the classic writer did not guarantee.

The job's process gets :func:`process_environment`: the environment of the
process that starts it, without ``TMPDIR`` (the classic runner unset it, so
jobs written for it create their temporary files in ``/tmp``), plus the
``job.env`` variables, with ``PATH`` set to ``GSAT_O_PATH``.  A proxy given
at submission (``gqsub --proxy FILE``) is the job's ``X509_USER_PROXY``.
"""

import os
import pwd

from . import jobtypes, paths, proxy
from .fsutil import write_atomic


def quote(value):
    out = []
    for ch in value:
        if ch in '\\"$`':
            out.append("\\")
        out.append(ch)
    return '"' + "".join(out) + '"'


_login_names = {}  # uid -> name: one user database look-up per process


def login_name():
    uid = os.getuid()
    name = _login_names.get(uid)
    if name is None:
        try:
            name = pwd.getpwuid(uid).pw_name
        except KeyError:
            return os.environ.get("LOGNAME") or os.environ.get("USER") or str(uid)
        _login_names[uid] = name
    return name


def logname():
    """``GSAT_O_LOGNAME``: ``$USER`` as the classic runner took it, else the
    login name of the user database (``$USER`` is unset under cron or ssh
    commands on some systems, where the classic value was empty)."""
    return os.environ.get("USER") or login_name()


def job_path_variable():
    """PATH for the job: ours, plus gsatellite's bin/ so ``trigger`` works."""
    value = os.environ.get("PATH", os.defpath)
    bindir = paths.bin_dir()
    if bindir not in value.split(os.pathsep):
        value = value + os.pathsep + bindir if value else bindir
    return value


def build(job_id, job_name, job_type, host, proxy_file=None):
    """``job.env`` of a job; ``proxy_file``: the proxy given at submission
    (``job.Job.proxy_request``), which wins over the job type's (gtransfer's
    default credential) and the controller's own ``X509_USER_PROXY``."""
    env = {
        "GSAT_JOBNAME": job_name,
        "GSAT_O_WORKDIR": paths.job_tmp_dir(job_id),
        "GSAT_O_HOME": paths.home(),
        "GSAT_O_LOGNAME": logname(),
        "GSAT_O_JOBID": job_id,
        "GSAT_O_HOST": host,
        "GSAT_O_PATH": job_path_variable(),
    }
    env.update(jobtypes.get(job_type).environment())
    if proxy_file:
        env[proxy.VARIABLE] = proxy_file
    return env


def process_environment(env):
    """The complete environment of the job process for ``job.env`` ``env``."""
    full = dict(os.environ)
    full.pop("TMPDIR", None)
    full.update(env)
    full["PATH"] = env["GSAT_O_PATH"]
    return full


def render(env):
    return "".join("export %s=%s\n" % (k, quote(v)) for k, v in env.items())


def write(job_id, env):
    write_atomic(paths.job_file(job_id, "job.env"), render(env))
