"""divpipe's benchmarks: `python -m bench [--quick] [--only NAME]` runs the suite (bench/suite.py).

Each `bench/bench_*.py` is also a script of its own (`python bench/bench_upsert.py`);
the suite imports their functions and reports every figure as a row with its
command, machine, date and load average (see BENCHMARKS.md).
"""
