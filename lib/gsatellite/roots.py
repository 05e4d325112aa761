"""The roots every gsatellite path starts from: ``$HOME``, ``G`` and the install tree.

``G = $HOME/.gsatellite`` is the user's state directory (docs/protocol.md);
the install tree holds ``bin/``, ``lib/``, ``libexec/`` and ``etc/`` and is
found relative to this file, so a checkout works without installation.

This module is the bottom of the package: it imports nothing of gsatellite,
so :mod:`config` (which looks for its files under these roots) and
:mod:`paths` (which needs a setting for the host name) can both build on it
without importing each other in a circle.  ``G`` is cached until
:func:`reset`.
"""

import os

_BASE = None


def reset():
    """Forget the cached ``G`` (for tests that change $HOME in-process)."""
    global _BASE
    _BASE = None


def home():
    h = os.environ.get("HOME")
    if h:
        return h
    import pwd

    return pwd.getpwuid(os.getuid()).pw_dir


def base():
    """``$HOME/.gsatellite``."""
    global _BASE
    if _BASE is None:
        _BASE = os.path.join(home(), ".gsatellite")
    return _BASE


_TREE = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def tree():
    """Root of the install tree: the directory holding ``lib/gsatellite``."""
    return _TREE
