"""Inter-process communication: message boxes, wake-ups, request/reply."""
