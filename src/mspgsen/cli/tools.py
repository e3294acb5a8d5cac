"""The export, report and runs verbs: what is done with runs once they are trained."""
from __future__ import annotations

from ..errors import MspgsenError


def add_export(sub, fmt) -> None:
    from ..exporter import FORMATS

    p = sub.add_parser("export", help="the EMA generator as a standalone TorchScript or ONNX file", formatter_class=fmt,
                       description="Write RUN's generator (EMA weights) as a file that maps z, and labels for conditional "
                                   "models, to images in [-1, 1] with any batch size; the written file is run once and "
                                   "compared with PyTorch. CFG-GAN runs cannot be exported (their sampling needs the stored "
                                   "discriminators' gradients).")
    p.add_argument("run", metavar="RUN", help="run folder, run name or checkpoint file")
    p.add_argument("--format", default="onnx", choices=FORMATS, help="file format")
    p.add_argument("--out", default=None, help="output file; default: RUN/export/generator-stepN.onnx (or .pt)")
    p.add_argument("--runs-dir", default="runs", help="where run names are looked up")
    p.add_argument("--no-ema", action="store_true", help="export the raw G weights instead of their EMA")
    p.add_argument("--opset", type=int, default=18, help="ONNX opset version")
    p.set_defaults(func=run_export)


def run_export(args) -> int:
    from ..exporter import export_generator

    res = export_generator(args.run, args.format, args.out, runs_dir=args.runs_dir, ema=not args.no_ema, opset=args.opset)
    print(res.describe())
    return 0


def add_report(sub, fmt) -> None:
    p = sub.add_parser("report", help="one self-contained HTML page about one run or several side by side",
                       formatter_class=fmt,
                       description="Write an HTML report (every picture inlined): final metrics, sample grids over training "
                                   "and per scale, loss and D-output curves, knob and controller timelines, FID/KID over "
                                   "training and the config; with several runs, curves are overlaid and only the config "
                                   "keys that differ are listed.")
    p.add_argument("runs", metavar="RUN", nargs="+", help="run folders or run names")
    p.add_argument("--out", default=None, help="output .html; default: RUN/report.html for one run, ./report.html for several")
    p.add_argument("--runs-dir", default="runs", help="where run names are looked up")
    p.add_argument("--grids", type=int, default=6, help="sample grids shown per run, evenly spaced over training")
    p.set_defaults(func=run_report)


def run_report(args) -> int:
    from ..reporting import build_report

    if args.grids < 1:
        raise MspgsenError(f"--grids must be at least 1, got {args.grids}.")
    print(build_report(args.runs, args.out, runs_dir=args.runs_dir, max_grids=args.grids))
    return 0


def add_runs(sub, fmt) -> None:
    p = sub.add_parser("runs", help="list the runs: preset, data, steps, kimg, latest FID, state, age", formatter_class=fmt,
                       description="One line per run folder under --runs-dir, most recently active first. The preset "
                                   "column is the preset the run's config is closest to, with the number of keys that "
                                   "differ; state is running, finished, interrupted or diverged ('stopped' for runs "
                                   "written before run states were recorded).")
    p.add_argument("--runs-dir", default="runs", help="folder that holds the runs")
    p.add_argument("--json", action="store_true", help="one JSON object per run instead of a table")
    p.set_defaults(func=run_runs)


def run_runs(args) -> int:
    import json
    from dataclasses import asdict
    from pathlib import Path

    from ..engine.listing import format_runs, list_runs

    if not Path(args.runs_dir).is_dir():
        raise MspgsenError(f"Runs folder '{args.runs_dir}' does not exist; train a run first or pass --runs-dir.")
    infos = list_runs(args.runs_dir)
    if args.json:
        for i in infos:
            print(json.dumps({**asdict(i), "path": str(i.path), "age_s": round(i.age_s, 1)}))
    elif not infos:
        print(f"no runs in {args.runs_dir}")
    else:
        print(format_runs(infos))
    return 0
