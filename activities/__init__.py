"""All I/O of the lifecycles: registry reads and writes, notifications, rate look-ups.

Every activity takes one dataclass and is idempotent: it is keyed by workflow id and step (or a
payment reference, a VIN), so a retry after a crash finds its own earlier write.
"""
