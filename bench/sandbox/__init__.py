"""Benchmark of the dojo sandbox: "Run" to result against a bare subprocess (see run.py)."""
