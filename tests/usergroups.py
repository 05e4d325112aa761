"""Groups for tests of the service rule (docs/protocol.md, "Services").

A group-writable service runs only when its group has no member besides
the user.  These helpers find real groups of this machine of each kind
that the test process may give a file it owns (root: any group; others:
their own groups).
"""

import grp
import os
import pwd


def _members(gid):
    try:
        listed = set(m for m in grp.getgrgid(gid).gr_mem if m)
    except KeyError:
        return None
    return listed | set(u.pw_name for u in pwd.getpwall() if u.pw_gid == gid)


def _me():
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return None


def _usable():
    if os.getuid() == 0:
        return [g.gr_gid for g in grp.getgrall()]
    return sorted(set(os.getgroups()) | {os.getgid()})


def shared_group():
    """A gid with a member besides us, or None."""
    for gid in _usable():
        members = _members(gid)
        if members is not None and members - {_me()}:
            return gid
    return None


def private_group():
    """A gid with no member besides us, or None."""
    for gid in [os.getgid()] + _usable():
        members = _members(gid)
        if members is not None and not members - {_me()}:
            return gid
    return None
