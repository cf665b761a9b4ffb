"""`surplus demo`: a whole mining site on allotted power, on this machine, on loopback.

The demo runs the real programs, each in its own process, exactly as an operator would:

    surplus pool    the pool in pool mode on the embedded devnet chain (or --node URL),
                    SQLite ledger, /metrics and the JSON stats API
    surplus rigsim  configs/fleet-demo.toml: a few hundred emulated rigs over two sites
                    (north LuxOS; south mixed: Braiins OS+, stock Antminer, Whatsminer
                    and LuxOS), mining through the pool; it also serves each site's
                    utility meter and the AI hall's sub-meter
    surplus fleetd  configs/fleetd-demo.toml: holds each site under its allotment through
                    pyasic (one backend per firmware family), closing the loop on the
                    site meters

and itself plays the grid operator (a live allotment feed that cuts the south site
without notice now and then) and the operator's screen (a live dashboard, or plain log
lines with --headless), built only from the programs' public APIs. It checks, from the
site meters' truth, that each site stayed under its allotment, and at the end writes
the compliance report and a summary.

    layout      the run's configuration files, derived from the shipped ones
    grid        the grid operator's feed
    procs       the child processes
    observe     polling the programs' APIs into one Snapshot
    compliance  site power against the allotment, sample by sample (pure)
    dashboard   the live screen and the headless lines
    run         the whole run
"""
