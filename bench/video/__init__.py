"""Benchmarks of the yearly recap video: rendering end to end against an encode-only baseline."""
