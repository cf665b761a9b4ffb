"""The pool across cores and hosts: N worker processes on one Stratum port
(SO_REUSEPORT), each with its own extranonce1 space, one supervisor restarting them."""
