"""rigsim: an emulated ASIC fleet (firmware API, Stratum mining, rig physics)."""
