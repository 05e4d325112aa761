"""Which services run: the rule ``libexec/run-services`` applies, for gqsub.

A service runs with the user's rights, so run-services refuses one that
another user could have changed: owned by a user other than the user or
root, writable by others, or writable by a group that has a member besides
the user (listed in the group database, or a user whose primary group it
is).  A group-writable service of a private group (umask 002 on a system
with a group per user) runs, as it ran under the classic tools.  A group
that cannot be looked up counts as shared.

run-services (bash) and this module implement the same rule; gqsub uses
this one to warn at submission, so a refusal does not wait for the job to
start to become visible.  run-services records each refusal in the job's
``job.serviceRefused``.  Only files that run-services would otherwise start
(regular, readable, executable, not hidden) are judged.

Only ``grp``/``pwd`` (C modules) are imported, and only when a service is
group-writable: gqsub's start-up stays cheap.
"""

import os
import stat

from . import paths

# The events whose services every job meets.
JOB_EVENTS = ("JOB_START", "JOB_TERMINATION")


def job_service_dirs():
    """The service directories of the events every job triggers."""
    return [d for event in JOB_EVENTS for d in (paths.system_services_dir(event), paths.user_services_dir(event))]


def _group_shared(gid, uid):
    import grp
    import pwd

    try:
        group = grp.getgrgid(gid)
    except KeyError:
        return True
    try:
        me = pwd.getpwuid(uid).pw_name
    except KeyError:
        me = None
    if any(member != me for member in group.gr_mem if member):
        return True
    return any(u.pw_gid == gid and u.pw_uid != uid for u in pwd.getpwall())


def refusal(path, uid=None):
    """Why run-services would refuse the service ``path``, or None.

    None also for a file run-services skips without a word (not a regular
    file, not readable or not executable)."""
    uid = os.getuid() if uid is None else uid
    try:
        st = os.stat(path)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode) or not os.access(path, os.R_OK | os.X_OK):
        return None
    mode = "%o" % stat.S_IMODE(st.st_mode)
    if st.st_uid not in (uid, 0):
        return "owned by uid %d" % st.st_uid
    if st.st_mode & stat.S_IWOTH:
        return "writable by others (mode %s)" % mode
    if st.st_mode & stat.S_IWGRP and _group_shared(st.st_gid, uid):
        return "writable by group %d, which has other members (mode %s)" % (st.st_gid, mode)
    return None


def refusals(event_dirs=None):
    """``["service PATH is not run: REASON", ...]`` for the services in
    ``event_dirs`` (default: :func:`job_service_dirs`) that run-services
    would refuse, in the order it meets them."""
    out = []
    for d in job_service_dirs() if event_dirs is None else event_dirs:
        try:
            names = sorted(n for n in os.listdir(d) if not n.startswith("."))
        except OSError:
            continue
        for name in names:
            path = os.path.join(d, name)
            reason = refusal(path)
            if reason:
                out.append("service %s is not run: %s" % (path, reason))
    return out
