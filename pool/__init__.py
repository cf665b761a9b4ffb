"""The pool: node client, jobs, Stratum sessions, share checks and the ledger.

Data flows one way: node -> jobs -> sessions -> shares -> ledger.
"""
