"""The bench verb: run a benchmark suite file and write its results (a thin layer over mspgsen.bench)."""
from __future__ import annotations

from pathlib import Path

from ..errors import MspgsenError


def add_bench(sub, fmt) -> None:
    p = sub.add_parser("bench", help="run a benchmark suite: train, resume, skip, measure, tabulate", formatter_class=fmt,
                       description="Run every (variant, seed) of SUITE.yaml (benchmarks/suites/ holds the project's): "
                                   "trains what is missing, resumes what was interrupted, skips marks already measured, "
                                   "measures each run at every mark, then writes results.md (mean ± sd over seeds and "
                                   "each seed), results.json, results.png and report.html. Running it again after an "
                                   "interruption continues where it stopped.")
    p.add_argument("suite", metavar="SUITE.yaml", help="the suite file")
    p.add_argument("--jobs", type=int, default=1, help="runs at a time, each in its own process at the suite's threads")
    p.add_argument("--runs-dir", default=None, help="where the suite's runs live (default: the suite's runs_dir)")
    p.add_argument("--out", default=None, help="folder for results.md/json/png and report.html (default: the runs dir)")
    p.add_argument("--seeds", default=None, help="only these comma-separated seeds of the suite")
    p.add_argument("--variants", default=None, help="only these comma-separated variants of the suite")
    p.add_argument("--ledger", default=None, metavar="FILE.jsonl",
                   help="keep measured rows in this ledger and count its rows as measured (default: the suite's "
                        "'ledger' key, if any)")
    p.add_argument("--no-ledger", action="store_true",
                   help="neither read nor write the suite's ledger (measure everything from the run folders)")
    p.add_argument("--table-only", action="store_true", help="write the results of what is measured; train nothing")
    p.add_argument("--no-report", action="store_true", help="skip the HTML comparison report")
    p.add_argument("--retry-diverged", action="store_true",
                   help="train runs that diverged when last trained once more from their last good checkpoint "
                        "(default: report them as stopped and go on)")
    p.set_defaults(func=run_bench)


def _subset(suite, seeds: str | None, variants: str | None) -> None:
    if seeds:
        try:
            want = [int(s) for s in seeds.split(",") if s.strip()]
        except ValueError:
            raise MspgsenError(f"--seeds must be comma-separated integers, got '{seeds}'.") from None
        bad = [s for s in want if s not in suite.seeds]
        if bad or not want:
            raise MspgsenError(f"--seeds {seeds}: the suite has seeds {', '.join(map(str, suite.seeds))}.")
        suite.seeds = want
    if variants:
        names = [v.strip() for v in variants.split(",") if v.strip()]
        known = {v.name: v for v in suite.variants}
        bad = [n for n in names if n not in known]
        if bad or not names:
            raise MspgsenError(f"--variants: no variant '{(bad or [''])[0]}' in the suite; it has {', '.join(known)}.")
        suite.variants = [known[n] for n in names]


def run_bench(args) -> int:
    from ..bench import load_suite, run_suite, write_results

    suite = load_suite(args.suite)
    if args.runs_dir:
        suite.runs_dir = Path(args.runs_dir)
    _subset(suite, args.seeds, args.variants)
    if args.ledger and args.no_ledger:
        raise MspgsenError("--ledger and --no-ledger contradict each other; give one of them.")
    if args.ledger:
        if not args.ledger.endswith(".jsonl"):
            raise MspgsenError(f"--ledger must name a .jsonl file, got '{args.ledger}'.")
        suite.ledger = Path(args.ledger)
    elif args.no_ledger:
        suite.ledger = None
    outcomes = run_suite(suite, jobs=args.jobs, train=not args.table_only, retry_diverged=args.retry_diverged)
    paths = write_results(suite, outcomes, Path(args.out or suite.runs_dir), jobs=args.jobs,
                          report=False if args.no_report else None)
    print(paths["table"].read_text())
    for kind, path in paths.items():
        print(f"{kind}: {path}")
    failed = [o for o in outcomes if o.error]
    for o in failed:
        print(f"error: {o.variant} seed {o.seed}: {o.error}")
    return 2 if failed else 0
