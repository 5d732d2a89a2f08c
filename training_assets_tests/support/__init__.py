"""Helpers shared by the tests (and the benchmarks): importable modules, not conftest."""
