"""Shared by the benchmarks: environment, spread and report files (not installed)."""
