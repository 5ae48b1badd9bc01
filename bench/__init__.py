"""Benchmarks: real requests through the real app, figures printed as BENCH lines."""
