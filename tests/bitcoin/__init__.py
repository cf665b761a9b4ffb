"""Tests for pool.bitcoin."""
