"""Tests for pool.node.devnet."""
