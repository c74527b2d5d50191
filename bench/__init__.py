"""The benchmark suite: p2ptui measured beside the physical floor and its peers.

    scripts/bench [--quick] [--out DIR]

Every figure that has a reference is reported as a ratio to a reference
measured in the same run on the same machine (a raw trio UDP round trip,
aioice's loopback connect, a bare Textual app), so the table survives a
noisy machine. Benchmarks report; they never fail on numbers.
"""
