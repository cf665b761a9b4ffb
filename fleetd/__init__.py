"""fleetd: keeps each site inside its allotted power while keeping the most hashrate.

Data flows one way: allotment -> planner -> drivers.
"""
