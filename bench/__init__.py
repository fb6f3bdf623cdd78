"""Benchmarks: run as modules (``python -m bench.encoder``); results go to ``bench/results/``."""
