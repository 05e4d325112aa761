"""The kernel's floor under figure 10: two bare processes ping-pong over
System V queues, with none of gsatellite's work in between.

    transport_floor.py N

Prints two medians of N round trips, in seconds:

* woken as the daemons are: the server sleeps in ``sigtimedwait`` with
  SIGCONT blocked, the client sends with ``IPC_NOWAIT`` and wakes it with
  SIGCONT, and is woken the same way by the answer; timed as
  ``transport_rt.py`` times the controller's side (from the return of the
  client's send to its wake-up, before it receives);
* the whole round trip with blocking ``msgsnd``/``msgrcv`` and no signal:
  the kernel's own round trip, which the issue quotes.

What a controller adds to the first is its own work; the first is the
least a queue controller's round trip can cost on this machine.
"""

import os
import statistics
import sys
import time

import sysv_ipc

# The C module, as the daemons use it.
import _signal as signal

WARM = 100


def _queues():
    return [sysv_ipc.MessageQueue(None, sysv_ipc.IPC_CREX, 0o600) for _ in range(2)]


def _next(queue, signals):
    while True:
        try:
            return queue.receive(block=False)
        except sysv_ipc.BusyError:
            signal.sigtimedwait(signals, 5)


def woken(n):
    signals = {signal.SIGCONT}
    signal.pthread_sigmask(signal.SIG_BLOCK, signals)
    to_server, to_client = _queues()
    pid = os.fork()
    if pid == 0:
        try:
            client = os.getppid()
            for _ in range(n + WARM):
                _next(to_server, signals)
                to_client.send(b"YES;x", block=False)
                os.kill(client, signal.SIGCONT)
        finally:
            os._exit(0)
    inside = []
    try:
        for _ in range(n + WARM):
            to_server.send(b"ALIVE?;x", block=False)
            t_in = time.perf_counter()
            os.kill(pid, signal.SIGCONT)
            while True:
                t_out = time.perf_counter()
                try:
                    to_client.receive(block=False)
                    break
                except sysv_ipc.BusyError:
                    signal.sigtimedwait(signals, 5)
            inside.append(t_out - t_in)
    finally:
        os.waitpid(pid, 0)
        to_server.remove()
        to_client.remove()
    return statistics.median(inside[WARM:])


def blocking(n):
    to_server, to_client = _queues()
    pid = os.fork()
    if pid == 0:
        try:
            for _ in range(n + WARM):
                to_server.receive()
                to_client.send(b"YES;x")
        finally:
            os._exit(0)
    times = []
    try:
        for _ in range(n + WARM):
            t0 = time.perf_counter()
            to_server.send(b"ALIVE?;x")
            to_client.receive()
            times.append(time.perf_counter() - t0)
    finally:
        os.waitpid(pid, 0)
        to_server.remove()
        to_client.remove()
    return statistics.median(times[WARM:])


if __name__ == "__main__":
    n = int(sys.argv[1])
    print("%.9f %.9f" % (woken(n), blocking(n)))
