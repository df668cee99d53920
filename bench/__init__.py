"""Benchmarks: each prints figures; none is a test. `python -m bench NAME`."""
