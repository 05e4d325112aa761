"""fifo: one job at a time, lowest queued id first."""


def pick(queued, running):
    if running or not queued:
        return []
    return queued[:1]
