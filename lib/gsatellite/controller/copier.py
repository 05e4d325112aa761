"""Job scripts copied off the loop: one worker thread, first come first served.

The loop hands a copy over with :meth:`Copier.submit` and goes on with other
requests.  The worker runs the copies one after the other and wakes the loop
(``wake()``: SIGCONT to the controller itself); the loop then calls
:meth:`Copier.collect`, which runs each copy's ``finish(error)`` in the
loop, in submission order.  So jobs appear in the store in the order of
their ids, and everything but the copy itself (renaming the job into place,
answering the client) happens in the loop's thread.

The worker exists only while there is something to copy.  It inherits the
loop's blocked signals, so no signal is ever delivered to it.
"""

import collections
import threading
import traceback

from ..log import log


class Copier:
    def __init__(self, wake):
        self.wake = wake
        self.lock = threading.Lock()
        self.todo = collections.deque()  # (work, finish), guarded by lock
        self.done = collections.deque()  # (finish, error), worker -> loop
        self.running = False  # a worker thread exists; guarded by lock
        self.pending = 0  # submitted, not yet collected (loop only)

    def busy(self):
        """True until every submitted copy has been collected: a copy made
        in the loop meanwhile would overtake them."""
        return self.pending > 0

    def submit(self, work, finish):
        """Run ``work()`` in the worker, then ``finish(error_or_None)`` in the loop."""
        self.pending += 1
        with self.lock:
            self.todo.append((work, finish))
            if self.running:
                return
            self.running = True
        threading.Thread(target=self._work, name="gsatlc-copier", daemon=True).start()

    def _work(self):
        while True:
            with self.lock:
                if not self.todo:
                    self.running = False
                    return
                work, finish = self.todo.popleft()
            error = None
            try:
                work()
            except Exception as e:
                error = e
                if not isinstance(e, OSError):
                    log("copy failed:\n%s" % traceback.format_exc())
            self.done.append((finish, error))
            self.wake()

    def collect(self):
        """Finish, in the loop, every copy the worker has completed."""
        while self.done:
            finish, error = self.done.popleft()
            self.pending -= 1
            finish(error)

    def close(self):
        """Forget every copy not collected yet (shutdown): a copy under way
        finishes in the worker, and nothing is done with it."""
        with self.lock:
            self.todo.clear()
        self.done.clear()
        self.pending = 0
