"""Benchmark suites (``mspgsen bench SUITE.yaml``): one file names what to train and how to measure it, and one
command trains what is missing, resumes what was interrupted, skips what is done, and writes the results table,
its JSON and the comparison report. The scripts under benchmarks/ that compare runs are thin wrappers over it.
"""
from __future__ import annotations

from .runner import RunOutcome, run_one, run_suite
from .suite import Suite, Variant, load_suite, parse_suite
from .tables import mean_sd, summarize, write_results

__all__ = ["RunOutcome", "Suite", "Variant", "load_suite", "mean_sd", "parse_suite", "run_one", "run_suite",
           "summarize", "write_results"]
