"""rigsim: an emulated ASIC fleet (firmware APIs, Stratum mining, rig physics).

models        rig models, LuxOS profile ladders, the power-to-hashrate curve, control timings
physics       vectorised state machine, power, hashrate, heat, fans, faults (pure)
config        fleet TOML validated by pydantic
fleet         Fleet and Rig: sites, faults, events, meters, control primitives
firmware      the four families, each rig's firmware settings, the handler per family
readings      per-board rates and temperatures every family reports
cgminer       the cgminer-style API core every family serves on 4028 (pure)
luxos         LuxOS replies (pure); sessions: LuxOS API sessions with idle expiry
bosminer      Braiins OS: bosminer's API on 4028 (pure)
braiins       Braiins OS: the gRPC public API's core (pure); braiins_grpc: its grpclib shell
bmminer       stock Antminer: bmminer's API on 4028 (pure)
antminer_web  stock Antminer: the web CGI (pure); digest: HTTP digest auth; web_api: aiohttp
btminer       Whatsminer: btminer's API v2 with encrypted writes (pure); btminer_v3: API v3
tcp_api       the TCP APIs (4028, Whatsminer's 4433), one server per rig on its address
listeners     per-rig listeners that close during outages and faults, and reopen
runner        the asyncio shell: physics tick + every API
addresses     free loopback blocks for fleets
clock         scaled and fake clocks
cli           `surplus rigsim`
"""
