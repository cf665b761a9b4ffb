"""Pure Bitcoin primitives the pool needs: serialisation, transactions, blocks,
merkle trees, targets and payout addresses.

Nothing here does I/O or keeps state, so every function is tested against published
vectors and real mainnet blocks without a node.
"""
