"""The test suite (a package, so tests and benchmarks import shared helpers as `tests.support`)."""
