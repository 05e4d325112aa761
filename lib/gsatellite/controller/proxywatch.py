"""Proxy expiry in the controller (FEATURES.md §8, docs/guide.md "Proxy
certificates").

Every job that has not ended and whose process will find a proxy in
``X509_USER_PROXY`` (:func:`gsatellite.proxy.file_of`: the one given with
``gqsub --proxy``, else its type's, else the controller's) is watched.  One
:class:`Watched` per proxy file holds the end of validity read from it and
one timer of the loop, armed by the rule of :func:`proxy.next_look`: no
polling, the file is read when the timer fires, when a job using it is
submitted, and when a scheduling pass is about to start such a job and
finds the file changed (one stat).

* **Warning**: ``proxy_warning`` seconds before the end, PROXY_EXPIRING is
  emitted once for each job of the file (services, ``-m a`` mail).  The
  validity warned about is kept in ``job.proxyWarned``, so neither a wake-up
  nor a controller restart warns twice; a renewed proxy (a later end) is a
  new validity with its own warning.
* **Automatic hold**: a job the scheduler picks whose proxy ends within
  ``proxy_margin`` seconds (or has ended) is held instead of started, with
  the reason in ``job.reason`` and in ``job.proxyHold``, the marker that
  tells this hold from a user's gqhold (written before the state, so a
  crash never leaves an automatic hold looking like a user's).  The event
  tells services and mail, with ``held``.  While such a job exists, the file
  is read again every ``proxy_recheck`` seconds; once it is renewed the job
  is queued again (state first, then the marker is removed).  gqhold and
  gqrls remove the marker: a job the user held stays held.
* ``job.proxyFile`` and ``job.proxyNotAfter`` (epoch seconds) record what
  the controller read, for gqstat, which never reads certificates.

A file that cannot be read as a proxy (missing, not a regular file, too
large, no certificate) means "no known validity": no warning, no hold; it
is logged once per change of the file.  A job already held for its proxy
stays held until the file is a proxy again that lasts long enough.
"""

import traceback

from .. import config, events, jobtypes, paths, proxy, states
from ..fsutil import read_first_line, unlink_quiet
from ..log import log
from ..protocol import digits

HOLD_MARK = "job.proxyHold"
WARNED = "job.proxyWarned"
NOT_AFTER = "job.proxyNotAfter"
FILE = "job.proxyFile"
_UNREAD = object()


class Watched:
    """One proxy file and the jobs that use it."""

    def __init__(self, path):
        self.path = path
        self.jobs = set()
        self.warned = {}  # job id -> end of the validity it was warned about
        self.stamp = _UNREAD
        self.end = None  # epoch seconds, None: not known
        self.problem = None
        self.timer = None  # the loop's timer handle, None when none is armed
        self.due = None  # its time on the loop's clock


class ProxyWatch:
    """Mixin of the Controller: uses ``store``, ``bus``, ``now``,
    ``call_later``/``cancel`` and ``need_schedule``."""

    def init_proxies(self):
        self.proxy_warning = config.get_float("proxy_warning")
        self.proxy_margin = config.get_float("proxy_margin")
        self.proxy_recheck = config.get_float("proxy_recheck")
        self.proxies = {}  # proxy file -> Watched
        self.job_proxies = {}  # job id -> proxy file
        self.proxy_held = set()  # job ids held automatically for their proxy

        def forget(event, job_id, new=None, **_):
            if event == events.JOB_DELETED or new in states.ENDED:
                self.proxy_unregister(job_id)

        self.bus.subscribe(events.JOB_STATE, forget)
        self.bus.subscribe(events.JOB_DELETED, forget)

    # -- which jobs ----------------------------------------------------------------
    def proxy_recover(self):
        """At start-up: watch every job that has not ended, then look at
        each proxy file once (not once per job: a long queue sharing one
        proxy stays linear)."""
        for state in (states.QUEUED, states.HELD, states.RUNNING):
            for job_id in self.store.ids(state):
                self.proxy_register(job_id, look=False)
        for path in list(self.proxies):
            try:
                self.proxy_look(path)
            except Exception:  # never a reason for the controller not to start
                log("proxy %s: cannot look at it:\n%s" % (path, traceback.format_exc()))

    def proxy_register(self, job_id, look=True, stored=None):
        """Watch ``job_id`` if its process will find a proxy.  Never raises:
        it runs after a submission was made and at start-up.  ``stored``:
        the job's type and proxy request as its submission has just written
        them (``{"job.type": ..., proxy.REQUEST: ...}``), not read back."""
        try:
            self._register(job_id, look, stored)
        except Exception:
            log("job %s: cannot watch its proxy:\n%s" % (job_id, traceback.format_exc()))

    def _register(self, job_id, look, stored=None):
        if job_id in self.job_proxies:
            return
        try:
            if stored is None:
                stored = {proxy.REQUEST: self.store.read(job_id, proxy.REQUEST),
                          "job.type": self.store.read(job_id, "job.type", jobtypes.DEFAULT)}
            given = stored.get(proxy.REQUEST)
            if given is not None and not proxy.requested(given):
                # Not what a submission stores (edited by hand): the job's
                # process does not get it either (job.Job.proxy_request).
                log("job %s: %s %r ignored: not a path gqsub --proxy stores" % (job_id, proxy.REQUEST, given[:200]))
            path = proxy.file_of(stored.get("job.type", jobtypes.DEFAULT), given=given)
            if path is None:
                return
            if self.store.read(job_id, FILE) != path:
                self.store.write(job_id, FILE, path)
            watched = self.proxies.get(path)
            if watched is None:
                watched = self.proxies[path] = Watched(path)
            watched.jobs.add(job_id)
            self.job_proxies[job_id] = path
            warned = (self.store.read(job_id, WARNED, "") or "").strip()
            if digits(warned.lstrip("-")):
                watched.warned[job_id] = int(warned)
            if self.store.read(job_id, HOLD_MARK) is not None and self.store.state(job_id) == states.HELD:
                self.proxy_held.add(job_id)
            self._record_end(job_id, watched.end)
        except OSError as e:
            log("job %s: cannot watch its proxy: %s" % (job_id, e))
            return
        if look:
            self.proxy_look(path, only=job_id)

    def proxy_unregister(self, job_id):
        path = self.job_proxies.pop(job_id, None)
        self.proxy_held.discard(job_id)
        watched = self.proxies.get(path)
        if watched is None:
            return
        watched.jobs.discard(job_id)
        watched.warned.pop(job_id, None)
        if not watched.jobs:
            self._arm(watched, None)
            del self.proxies[path]

    # -- reading the file and acting on it ---------------------------------------------
    def _record_end(self, job_id, end):
        if end is None:
            unlink_quiet(paths.job_file(job_id, NOT_AFTER))
        elif self.store.read(job_id, NOT_AFTER) != str(end):
            self.store.write(job_id, NOT_AFTER, end)

    def _refresh(self, watched):
        """Read the file again if it changed since it was last read; True
        when the end of validity changed."""
        now_stamp = proxy.stamp(watched.path)
        if now_stamp == watched.stamp and now_stamp is not None:
            return False
        watched.stamp = now_stamp
        try:
            end = proxy.not_after(watched.path)
            problem = None
        except proxy.ProxyError as e:
            end, problem = None, str(e)
        if problem and problem != watched.problem:
            log("proxy %s: %s; its end of validity is not known" % (watched.path, problem))
        watched.problem = problem
        if end != watched.end:
            if end is not None:
                log("proxy %s: valid until %s" % (watched.path, proxy.iso_utc(end)))
            watched.end = end
            for job_id in sorted(watched.jobs):
                try:
                    self._record_end(job_id, end)
                except OSError as e:
                    log("job %s: cannot record its proxy's end: %s" % (job_id, e))
            return True
        return False

    def proxy_look(self, path, only=None):
        """Read the proxy file (if changed), warn, hold, release, and arm
        the timer.  ``only``: the one job that is new to the file (the
        others were looked at with the same end already)."""
        watched = self.proxies.get(path)
        if watched is None:
            return
        if self._refresh(watched):
            only = None  # a new end concerns every job of the file
        now = self.now()
        end = watched.end
        for job_id in sorted(watched.jobs) if only is None else [only]:
            try:
                if job_id in self.proxy_held:
                    # Only a renewal releases it: a file gone, swapped for a
                    # FIFO or unreadable for an NFS hiccup (end not known)
                    # would start a job that cannot authenticate.
                    if end is not None and not proxy.too_short(end, now, self.proxy_margin):
                        self.proxy_release(job_id)
                elif proxy.too_short(end, now, self.proxy_margin) and self.store.state(job_id) == states.QUEUED:
                    self._hold(job_id, watched, now)  # it cannot start: told once, as held
                    continue
                if proxy.warning_due(end, now, self.proxy_warning) and watched.warned.get(job_id) != end:
                    self._warn(job_id, watched, now, held=False)
            except OSError as e:
                log("job %s: proxy check failed: %s" % (job_id, e))
        warned = all(watched.warned.get(j) == end for j in watched.jobs)
        held = any(j in self.proxy_held for j in watched.jobs)
        self._arm(watched, proxy.next_look(end, now, self.proxy_warning, warned, held, self.proxy_recheck))

    def _arm(self, watched, delay):
        """The file's one timer: ``delay`` seconds from now, or none.  An
        unchanged time keeps the armed timer (a burst of submissions must
        not fill the loop's heap with cancelled ones)."""
        due = None if delay is None else self.clock() + delay
        if watched.timer is not None and due is not None and abs(watched.due - due) < proxy.MIN_DELAY:
            return
        self.cancel(watched.timer)
        watched.timer = watched.due = None
        if due is None:
            return

        def fire():
            watched.timer = None
            self.proxy_look(watched.path)

        watched.timer, watched.due = self.call_later(delay, fire), due

    def _warn(self, job_id, watched, now, held, reason=None):
        end = watched.end
        left = int(end - now)
        if reason is None:
            reason = ("proxy %s ends at %s (%d s left)" % (watched.path, proxy.iso_utc(end), left) if left > 0
                      else "proxy %s ended at %s" % (watched.path, proxy.iso_utc(end)))
        # Recorded first: a crash after it loses one warning, never repeats
        # one.  A record that cannot be written (a full disk) does not stop
        # the warning; only a restart of the controller could repeat it.
        watched.warned[job_id] = end
        try:
            self.store.write(job_id, WARNED, end)
        except OSError as e:
            log("job %s: cannot record the proxy warning: %s" % (job_id, e))
        log("job %s: %s" % (job_id, reason))
        self.bus.emit(events.PROXY_EXPIRING, job_id, proxy_file=watched.path, not_after=end,
                      seconds_left=left, reason=reason, held=held)

    # -- the automatic hold -------------------------------------------------------------
    def proxy_blocks_start(self, job_id):
        """True (and the job held) when ``job_id``, about to be started, has a
        proxy that ends within ``proxy_margin`` seconds."""
        path = self.job_proxies.get(job_id)
        if path is None:
            return False
        watched = self.proxies[path]
        if proxy.stamp(path) != watched.stamp:
            self.proxy_look(path)  # renewed or replaced since it was read
            if self.store.state(job_id) != states.QUEUED:
                return True  # the look held it
        now = self.now()
        if not proxy.too_short(watched.end, now, self.proxy_margin):
            # A marker a crash left behind must not outlive this start.
            unlink_quiet(paths.job_file(job_id, HOLD_MARK))
            return False
        self._hold(job_id, watched, now)
        self.proxy_look(path)
        return True

    def _hold(self, job_id, watched, now):
        left = watched.end - now
        reason = ("held: proxy %s ended at %s; renew it and the job is queued again"
                  % (watched.path, proxy.iso_utc(watched.end)) if left <= 0 else
                  "held: proxy %s ends at %s, within proxy_margin (%g s); renew it and the job is queued again"
                  % (watched.path, proxy.iso_utc(watched.end), self.proxy_margin))
        try:
            # The marker before the state: a crash in between leaves a queued
            # job with a marker (harmless), never an unmarked automatic hold.
            self.store.write(job_id, HOLD_MARK, reason)
            self.store.write(job_id, "job.reason", reason)
            self.store.transition(job_id, states.HELD)
        except OSError as e:
            log("job %s: cannot hold it for its proxy: %s; not started" % (job_id, e))
            return
        self.proxy_held.add(job_id)
        self.need_schedule = True  # its slot goes to the next job
        self._warn(job_id, watched, now, held=True, reason=reason)

    def proxy_release(self, job_id):
        """The proxy of automatically held ``job_id`` was renewed: queue it."""
        self.proxy_held.discard(job_id)
        reason = self.store.read(job_id, HOLD_MARK)
        if reason is None or self.store.state(job_id) != states.HELD:
            return  # the user held or released it since
        # State first, marker last: a crash in between leaves a queued job
        # with a marker, never an automatic hold without one.
        self.store.transition(job_id, states.QUEUED)
        if self.store.read(job_id, "job.reason") == reason:
            unlink_quiet(paths.job_file(job_id, "job.reason"))
        unlink_quiet(paths.job_file(job_id, HOLD_MARK))
        log("job %s: its proxy was renewed; queued again" % job_id)
        self.need_schedule = True

    def proxy_user_hold(self, job_id):
        """gqhold or gqrls of ``job_id``: from now on the user decides; an
        automatic hold becomes the user's (never released by itself)."""
        if job_id in self.proxy_held or read_first_line(paths.job_file(job_id, HOLD_MARK)) is not None:
            self.proxy_held.discard(job_id)
            unlink_quiet(paths.job_file(job_id, HOLD_MARK))
