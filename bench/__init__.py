"""keypin's benchmarks: `make bench` runs them with pytest-benchmark and rewrites docs/benchmarks.md.

Every benchmark runs against moto's server on 127.0.0.1 with fake AWS credentials. The
files are named `bench_*.py`, so `make test` never collects them; tests/test_bench_smoke.py
runs each once with `python -m bench --quick`.
"""
