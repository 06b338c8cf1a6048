"""Benchmarks of the content service: report rendering, report requests end to end."""
