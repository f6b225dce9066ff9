"""Performance benchmarks for TaskForce Wallet (issue 11): ``python -m bench``.

Each module measures one figure against its baseline in the same run and
returns a :class:`bench.core.BenchResult`; :mod:`bench.__main__` runs them
in turn and writes ``bench/RESULTS.md`` and ``bench/plots/*.png``.
Performance is reported here, never asserted by timing in tests.
"""
