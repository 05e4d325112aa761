"""The receive loop shared by gsatlc, sigfwd and sputnik.

A daemon serves one or more inboxes, each with its own message handler, and
runs timers.  ``once()`` takes every message that is in its inboxes,
dispatches it, runs the timers that are due, and then sleeps until a signal,
the next timer or a timeout; ``run()`` repeats ``once()`` until ``stop`` is
set.  Timers run between two messages too, so no stream of messages can
starve them.  Signal handlers never run: signals are blocked and collected by
the :class:`~gsatellite.transport.wake.Sleeper`, so a wake-up cannot be lost and no
work happens in signal context.

The main inbox's handler is :meth:`Daemon.dispatch`: a table ``verb ->
handler``.  A handler receives ``(args, reply_to)`` and returns the answer
text, or None for no answer now (it may answer later with :meth:`reply`).
A handler that raises answers ``VERB failed: internal error``.  Standard
commands (``ALIVE?``, ``PID?``, ``HOST?``, ``STOP``) are answered here;
anything unknown gets ``UNKNOWN COMMAND``.

:meth:`Daemon.ask` is a request that never blocks the loop: the answer (or
None at the deadline) arrives later through a callback.

Inboxes and addresses come from :mod:`gsatellite.transport`; this module
never learns how a message travels (with ``transport = sysv`` the main
inbox is a System V queue and its box, both drained before every sleep; see
:mod:`gsatellite.transport.sysv` for why no wake-up is lost).  A reply goes only to an address the
transport accepts as an answer inbox (:func:`transport.reply_address`).

Time comes from ``self.clock`` (monotonic) and ``self.now`` (wall clock), so
tests can drive the loop with a fake clock.
"""

import heapq
import itertools
import os
import signal
import time
import traceback

from . import config, paths
from . import transport
from .transport import wake
from . import protocol as P
from .protocol import split
from .log import log

TERMINATING = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
# Seconds between two looks for System V queues of processes killed with
# kill -9 (a daemon also looks when it starts, in transport.open_inbox).
SWEEP_SECONDS = 60.0
# Messages taken in a row before pending signals are looked at.
SIGNAL_LOOK = 64


class Daemon:
    name = "daemon"
    # Seconds between two looks into the box when nothing wakes us.
    poll = 5.0

    def __init__(self, clock=time.monotonic, now=time.time):
        self.clock = clock
        self.now = now
        self.pid = os.getpid()
        self.host = paths.hostname()
        self.stop = False
        self._signalled = False
        self.limit = config.get_int("max_message_size")
        self.handlers = {
            P.ALIVE: lambda args, box: P.YES,
            P.PID: lambda args, box: str(self.pid),
            P.HOST: lambda args, box: self.host,
            P.STOP: self.handle_stop,
        }
        self.timers = []  # heap of [when, seq, fn]; fn None once cancelled
        self._seq = itertools.count()
        self._asks = itertools.count(1)
        self._pending_asks = set()  # finish() of every ask still waiting
        self.inboxes = []  # [(inbox, on_message)]
        self.sleeper = wake.Sleeper(TERMINATING + (signal.SIGCHLD,))
        self.inbox = self.make_inbox()
        self.box = self.inbox.address
        self.serve(self.inbox, self.dispatch)
        if self.inbox.address.kind != transport.base.MBOX:
            self.every(SWEEP_SECONDS, transport.sweep)

    # -- hooks for subclasses -------------------------------------------------
    def make_inbox(self):
        return transport.open_inbox(self.pid, limit=self.limit)

    def fallback(self, command, args, answer_box):
        return P.UNKNOWN

    def on_signal(self, signo):
        if signo in TERMINATING:
            log("received %s; shutting down" % wake.signal_name(signo))
            self.stop = True

    def tick(self):
        """Periodic work after each pass; returns seconds until next needed."""
        return self.poll

    def maintain(self):
        """Cheap upkeep that must not wait for an empty box (called after
        every message), e.g. the controller collecting finished copies.
        Periodic work belongs in a timer (:meth:`every`)."""

    # -- timers -------------------------------------------------------------------
    def call_later(self, seconds, fn):
        """Run ``fn()`` from the loop in ``seconds``; returns a handle."""
        timer = [self.clock() + max(0.0, seconds), next(self._seq), fn]
        heapq.heappush(self.timers, timer)
        return timer

    def every(self, seconds, fn):
        """Run ``fn()`` every ``seconds`` (first run after one interval)."""

        def again():
            try:
                fn()
            finally:  # a run that failed (run_timers logs it) must not end the series
                self.call_later(seconds, again)

        return self.call_later(seconds, again)

    def cancel(self, timer):
        if timer is not None:
            timer[2] = None

    def run_timers(self):
        """Run the timers that are due; returns seconds until the next one.
        A timer that comes due again while they run (a period shorter than
        its own work) waits for the next call: the inboxes and signals are
        looked at in between, so the daemon can still be stopped."""
        started = self.clock()
        while self.timers:
            when, _, fn = self.timers[0]
            if fn is None:
                heapq.heappop(self.timers)
                continue
            left = when - self.clock()
            if left > 0:
                return left
            if when > started:
                return 0
            heapq.heappop(self.timers)
            try:
                fn()
            except Exception:
                log("timer %r failed:\n%s" % (fn, traceback.format_exc()))
            if self.stop:
                return 0
        return None

    # -- inboxes --------------------------------------------------------------------
    def serve(self, inbox, on_message):
        """Receive on ``inbox`` too; ``on_message(text)`` handles each message."""
        self.inboxes.append((inbox, on_message))

    def unserve(self, inbox):
        self.inboxes = [(i, fn) for i, fn in self.inboxes if i is not inbox]

    def ask(self, address, command, on_answer, timeout, patience=0.0):
        """Send ``command`` to ``address`` without waiting for the answer.

        ``on_answer(answer)`` is called exactly once from the loop: with the
        answer text, or with None when the deadline passes or the peer cannot
        be reached.  At the deadline a request still unread is withdrawn, so
        it can no longer take effect; one the peer has already read gets
        ``patience`` seconds more (a peer that works on it).  At shutdown every pending ask ends
        with None, so no client waits for an answer that will never come.
        """
        inbox = transport.open_inbox(self.pid, tag="a%d" % next(self._asks), limit=self.limit,
                                     kind=transport.answer_kind(address))
        pending = {"sent": None, "timer": None}

        def finish(answer):
            if "done" in pending:
                return
            pending["done"] = True
            self._pending_asks.discard(finish)
            self.cancel(pending["timer"])
            self.unserve(inbox)
            if answer is None and pending["sent"] is not None and transport.withdraw(pending["sent"]):
                log("%s to %s withdrawn unread" % (command, address))
            inbox.close()
            on_answer(answer)

        try:
            before = transport.changed(address)
            pending["sent"] = transport.send(address, P.message(command, inbox.address))
            transport.wake_owner_if_safe(address, before)
        except OSError as e:  # transport.TransportError included
            log("cannot send %s to %s: %s" % (command, address, e))
            self.call_later(0, lambda: finish(None))
            return
        def deadline():
            if patience > 0 and "extended" not in pending:
                if not transport.withdraw(pending["sent"]):
                    # Read: never withdrawn again (its receipt could come
                    # to name a later message of ours there).
                    pending["sent"] = None
                    pending["extended"] = True
                    pending["timer"] = self.call_later(patience, lambda: finish(None))
                    return
                log("%s to %s withdrawn unread" % (command, address))
                pending["sent"] = None
            finish(None)

        pending["timer"] = self.call_later(timeout, deadline)
        self._pending_asks.add(finish)
        self.serve(inbox, lambda text: finish(split(text)[0]))

    # -- the loop ---------------------------------------------------------------
    def handle_stop(self, args, box):
        self.stop = True
        return P.STOPPING

    def reply(self, answer_box, answer):
        """Answer a request; never raises.  An answer address that is not
        an answer inbox of ours (``ALIVE?;/etc``) gets nothing: no file, no
        signal."""
        if not answer_box:
            return
        try:
            to = transport.reply_address(answer_box)
        except transport.BadAddress as e:
            log("refusing to answer %r: %s" % (answer, e))
            return
        if self._serves(to):
            # The answer would come back to us as a request (ALIVE?;<ours>).
            log("refusing to answer %r to %s: an inbox this daemon reads" % (answer, answer_box))
            return
        before = transport.changed(to)
        try:
            transport.send(to, P.message(answer, self.inbox.address_for(to)))
        except OSError as e:  # transport.TransportError included
            log("cannot answer %r to %s: %s" % (answer, answer_box, e))
            return
        transport.wake_owner_if_safe(to, before)

    def _serves(self, to):
        """Is ``to`` an inbox we read (its box, for a queue)?  A box's path in
        any spelling (normalised).  A loop that gets past this (through an
        alias, a queue number with leading zeros) ends after three messages
        anyway: an answer to UNKNOWN COMMAND is never given."""
        if to.kind != transport.base.MBOX:
            for inbox, _ in self.inboxes:
                if inbox.address == to:
                    return True
            return False
        text = os.path.normpath(to)
        for inbox, _ in self.inboxes:
            for served in (inbox.address, getattr(getattr(inbox, "box", None), "address", None)):
                if served is not None and text == (
                        os.path.normpath(served) if served.kind == transport.base.MBOX else served):
                    return True
        return False

    def dispatch(self, message):
        if ";" not in message:
            log("malformed message (no ';'), ignored: %r" % message[:200])
            return
        command, answer_box = split(message)
        if command in P.ANSWERS_NOT_REQUESTS:
            # An answer that came here as a request (a peer's answer to its
            # own request, sent with our address): handling it would answer
            # it, and the two daemons would exchange answers for ever (or a
            # stray HOLD FAILED would hold a job).
            return
        verb, _, args = command.partition(" ")
        handler = self.handlers.get(verb)
        try:
            if handler is None:
                answer = self.fallback(verb, args, answer_box)
            else:
                answer = handler(args, answer_box)
        except Exception:  # a bad request must never kill the daemon
            log("error handling %r:\n%s" % (command[:200], traceback.format_exc()))
            answer = "%s failed: internal error" % verb.lower()
        if answer is not None:
            self.reply(answer_box, answer)

    def take_messages(self):
        """Process every message now in the inboxes; returns how many."""
        count = 0
        for inbox, on_message in list(self.inboxes):
            if (inbox, on_message) not in self.inboxes:
                continue  # unserved by a handler of this pass
            while not self.stop:
                try:
                    message = inbox.receive()
                except transport.Unreachable:
                    self.inbox_lost(inbox)
                    break
                if message is None:
                    break
                count += 1
                on_message(message)
                self.maintain()
                self.run_timers()
                if count % SIGNAL_LOOK == 0:
                    # A stream that never ends must not keep SIGTERM waiting.
                    self._look_at_signals()
                if (inbox, on_message) not in self.inboxes:
                    break
            if self.stop:
                break
        return count

    def _look_at_signals(self):
        signals = self.sleeper.drain()
        if signals:
            self._signalled = True  # once() looks into every inbox again
        for signo in signals:
            self.on_signal(signo)

    def inbox_lost(self, inbox):
        if inbox is not self.inbox:
            log("inbox %s vanished" % inbox.address)
            return
        # (A queue removed under us is made again by the inbox itself; what
        # is lost here is a box.)
        log("my message box %s vanished; recreating it" % self.box)
        self.unserve(inbox)
        try:
            inbox.close()  # what is left of it: a queue and entry whose box went
        except OSError:
            pass
        self.inbox = self.make_inbox()
        self.box = self.inbox.address
        self.inboxes.insert(0, (self.inbox, self.dispatch))

    def once(self, timeout=None):
        self._signalled = False
        while not self.stop and self.take_messages():
            # A pass ends when every inbox was found empty.  What a sender
            # that can signal us publishes after that look comes with its
            # SIGCONT: taken here (look again), or still pending at the
            # sleep below, which then returns at once.  No signal: no
            # second look (a receive and a box listing for nothing, twice
            # per job); what comes unsignalled (another host's message to a
            # forwarder's box on NFS) waits for the poll, as when idle.
            signals = self.sleeper.drain()
            for signo in signals:
                self.on_signal(signo)
            signalled, self._signalled = self._signalled, False
            if not signals and not signalled:
                break
        if self.stop:
            return
        self.run_timers()
        if self.stop:
            return
        wait = self.tick()
        if self.stop:
            return
        next_timer = self.run_timers()
        if next_timer is not None:
            wait = min(wait, next_timer)
        if timeout is not None:
            wait = min(wait, timeout)
        if self._signalled:
            # A wake-up taken by a pass outside the loop above (the
            # controller's tick takes messages): its message may be in an
            # inbox that pass had looked at already.  Looked at again first.
            return
        signo = self.sleeper.sleep(wait)
        if signo is not None:
            self.on_signal(signo)
            for signo in self.sleeper.drain():
                self.on_signal(signo)

    def run(self):
        try:
            self.loop()
        finally:
            self.shutdown()

    def loop(self):
        while not self.stop:
            self.once()

    def shutdown(self):
        for finish in list(self._pending_asks):
            try:
                finish(None)
            except Exception:
                log("ending a pending request failed:\n%s" % traceback.format_exc())
        for inbox, _ in self.inboxes:
            inbox.close()
        self.inboxes = []
