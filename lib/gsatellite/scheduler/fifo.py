"""fifo: lowest queued id first, ``slots`` jobs at a time (default 1)."""


def pick(queued, running, slots):
    free = max(0, slots - running)
    return queued[:free]
