"""Round trips of ``ALIVE?`` to a controller from one warm client process.

    transport_rt.py ADDRESS N [--fresh]

Prints the median seconds of N round trips: send, wake the owner, sleep
until the answer arrives (the controller wakes us), receive.  With
``--fresh`` every request makes and removes its own answer inbox
(``request.request``, what every command does); without, one answer inbox
is reused, so only the messages and the controller's work are timed, and
a second median follows: the controller's side alone, from the moment
the request is in the controller's inbox (our send has returned) to the
moment its answer is in ours (we are woken, before we receive it): the
wake-up, the controller's receive, its work, its reply and its wake-up of
us, without our own send and receive.
Run with ``PYTHONPATH=lib`` in the controller's ``$HOME``.
"""

import statistics
import sys
import time

from gsatellite import protocol, transport
from gsatellite.transport import request, wake


def main(argv):
    address = transport.address(argv[0])
    n = int(argv[1])
    times = []
    inside = []
    if "--fresh" in argv:
        for _ in range(n):
            t0 = time.perf_counter()
            if request.request(address, protocol.ALIVE) != protocol.YES:
                raise SystemExit("unexpected answer")
            times.append(time.perf_counter() - t0)
    else:
        sleeper = wake.Sleeper()
        inbox = transport.open_inbox(tag="rt", log=sys.stderr.write, kind=transport.answer_kind(address))
        try:
            for _ in range(n):
                t0 = time.perf_counter()
                transport.send(address, protocol.message(protocol.ALIVE, inbox.address))
                t_in = time.perf_counter()
                transport.wake_owner(address)
                while True:
                    t_out = time.perf_counter()
                    msg = inbox.receive()
                    if msg is not None:
                        break
                    sleeper.sleep(5.0)
                times.append(time.perf_counter() - t0)
                inside.append(t_out - t_in)
                if not msg.startswith(protocol.YES + ";"):
                    raise SystemExit("unexpected answer %r" % msg)
        finally:
            inbox.close()
    print("%.9f" % statistics.median(times) + (" %.9f" % statistics.median(inside) if inside else ""))


if __name__ == "__main__":
    main(sys.argv[1:])
