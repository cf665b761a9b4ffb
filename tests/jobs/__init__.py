"""Tests for pool.jobs."""
