"""pytest-benchmark suite, run apart from the tests: ``pytest benchmarks``."""
