"""Share checks: parse mining.submit, check it against the job the session was given,
hash batches of headers in a worker thread, and hand accepted shares to the ledger.

The checks are pure functions over Jobs and parsed values (tested without a network);
`validator` is the only part that owns a thread.
"""
