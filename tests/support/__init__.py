"""Helpers shared by tests and benchmarks (not collected as tests): the browser harness."""
