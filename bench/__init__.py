"""Benchmarks of the kiosk; ``python -m bench.run`` writes bench/results/*.json and bench/REPORT.md."""
