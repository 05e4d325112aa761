"""The receive loop shared by gsatlc, sigfwd and sputnik.

A daemon owns one message box and a table ``verb -> handler``.  ``once()``
takes every message that is in the box, dispatches it, and then sleeps until
a signal or a timeout; ``run()`` repeats ``once()`` until ``stop`` is set.
Signal handlers never run: signals are blocked and collected by the
:class:`~gsatellite.ipc.wake.Sleeper`, so a wake-up cannot be lost and no
work happens in signal context.

A handler receives ``(args, answer_box)`` and returns the answer text, or
None for no answer.  Standard commands (``ALIVE?``, ``PID?``, ``HOST?``,
``STOP``) are answered here; anything unknown gets ``UNKNOWN COMMAND``.
"""

import errno
import os
import signal

from . import config, paths
from .ipc import mbox, wake
from . import protocol as P
from .protocol import split
from .log import log

TERMINATING = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


class Daemon:
    name = "daemon"
    # Seconds between two looks into the box when nothing wakes us.
    poll = 5.0

    def __init__(self):
        self.pid = os.getpid()
        self.host = paths.hostname()
        self.stop = False
        self.limit = config.get_int("max_message_size")
        self.handlers = {
            P.ALIVE: lambda args, box: P.YES,
            P.PID: lambda args, box: str(self.pid),
            P.HOST: lambda args, box: self.host,
            P.STOP: self.handle_stop,
        }
        self.sleeper = wake.Sleeper(TERMINATING + (signal.SIGCHLD,))
        self.box = self.make_box()

    # -- hooks for subclasses -------------------------------------------------
    def make_box(self):
        return mbox.create_pid_box(self.pid)

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
        every message), e.g. the controller's liveness refresh."""

    # -- the loop ---------------------------------------------------------------
    def handle_stop(self, args, box):
        self.stop = True
        return P.STOPPING

    def reply(self, answer_box, answer):
        if not answer_box:
            return
        try:
            mbox.send(answer_box, P.message(answer, self.box))
        except (mbox.BoxMissing, OSError) as e:
            log("cannot answer %r to %s: %s" % (answer, answer_box, e))
            return
        wake.wake_box_owner(answer_box)

    def dispatch(self, message):
        if ";" not in message:
            log("malformed message (no ';'), ignored: %r" % message[:200])
            return
        command, answer_box = split(message)
        verb, _, args = command.partition(" ")
        handler = self.handlers.get(verb)
        try:
            if handler is None:
                answer = self.fallback(verb, args, answer_box)
            else:
                answer = handler(args, answer_box)
        except Exception as e:  # a bad request must never kill the daemon
            log("error handling %r: %s: %s" % (command[:200], type(e).__name__, e))
            answer = None
        if answer is not None:
            self.reply(answer_box, answer)

    def take_messages(self):
        """Process every message now in the box; returns how many."""
        try:
            files = mbox.pending(self.box)
        except FileNotFoundError:
            log("my message box %s vanished; recreating it" % self.box)
            self.box = self.make_box()
            return 0
        count = 0
        for path in files:
            try:
                message = mbox.consume(path, self.limit)
            except FileNotFoundError:
                continue
            except mbox.BadMessage as e:
                log("bad message %s discarded: %s" % (os.path.basename(path), e))
                continue
            except OSError as e:
                if e.errno == errno.EISDIR:
                    log("not a message file: %s" % path)
                    continue
                raise
            count += 1
            self.dispatch(message)
            self.maintain()
            if self.stop:
                break
        return count

    def once(self, timeout=None):
        while not self.stop and self.take_messages():
            for signo in self.sleeper.drain():
                self.on_signal(signo)
        if self.stop:
            return
        wait = self.tick()
        if self.stop:
            return
        if timeout is not None:
            wait = min(wait, timeout)
        signo = self.sleeper.sleep(wait)
        if signo is not None:
            self.on_signal(signo)
            for signo in self.sleeper.drain():
                self.on_signal(signo)

    def run(self):
        try:
            while not self.stop:
                self.once()
        finally:
            self.shutdown()

    def shutdown(self):
        mbox.remove_box(self.box)

