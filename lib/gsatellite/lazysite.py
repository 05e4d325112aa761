"""Site-packages on demand, for the checkout's client launchers (issue 18).

``python3 -c pass`` spends most of its start-up in :mod:`site` when the
global site-packages is crowded (32 ms against 7 ms with ``-S`` on the
machine of issue 18), and the client commands' hot path imports nothing
from it: only gsatellite's own modules, from the checkout's ``lib/``.  So
the launchers in ``bin/`` start Python with ``-S`` and call
:func:`install`: the first import that nothing on the path can satisfy
(``sysv_ipc`` for the System V transport, ``cryptography`` for a proxy,
an optional module a library probes for) runs :func:`site.main` (the
site-packages, ``.pth`` files, a virtual environment's configuration), and
is then looked up again.  Nothing is imported that would not be imported
with site; it only happens later, if at all.
"""

import sys


class _SiteOnDemand:
    """Last on ``sys.meta_path``: asked only when every other finder failed."""

    def find_spec(self, name, path=None, target=None):
        if path is not None:
            return None  # a submodule: its package decides where it is
        if self in sys.meta_path:
            sys.meta_path.remove(self)
        import site

        site.main()
        from importlib.machinery import PathFinder

        return PathFinder.find_spec(name)


def install():
    """Make site-packages appear on demand in an interpreter started with
    ``-S``; nothing to do in one that ran :mod:`site` already."""
    if sys.flags.no_site and not any(isinstance(f, _SiteOnDemand) for f in sys.meta_path):
        sys.meta_path.append(_SiteOnDemand())
