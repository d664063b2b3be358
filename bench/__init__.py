"""Benchmarks (not tests): `python bench/ingest_batch.py`, `python bench/intake_single.py`.
See docs/PERFORMANCE.md."""
