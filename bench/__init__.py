"""Latency and throughput benchmarks, each beside the naive way measured in the same run: `python -m bench`."""
