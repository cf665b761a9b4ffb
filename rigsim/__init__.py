"""rigsim: an emulated ASIC fleet (firmware API, Stratum mining, rig physics).

models     rig models, LuxOS profile ladders, the power-to-hashrate curve
physics    vectorised state machine, power, hashrate, heat, fans, faults (pure)
config     fleet TOML validated by pydantic
fleet      Fleet and Rig: sites, faults, events, meters, in-process LuxOS calls
luxos      LuxOS/cgminer API replies (pure)
luxos_api  the API on TCP 4028, one server per rig on its loopback address
runner     the asyncio shell: physics tick + TCP APIs
sessions   LuxOS API sessions with idle expiry
addresses  free loopback blocks for fleets
clock      scaled and fake clocks
cli        `surplus rigsim`
"""
