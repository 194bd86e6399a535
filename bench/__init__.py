"""Benchmarks for article-qa: `python -m bench.quick` (make bench) and `python -m bench.scale` (make bench-scale).

Results (JSON, a markdown table, PNG plots) go to `bench/results/`; see `bench/README.md`.
"""
