"""Stratum V1: the message codec, sessions (asyncio Protocols), vardiff and the server.

Kept import-light on purpose: rigsim imports `pool.stratum.codec` and must not pull in
the server, numba or the node client.
"""
