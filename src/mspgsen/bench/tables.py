"""A suite's results as people and programs read them: mean ± sd over seeds (sample sd, n - 1) per variant and mark,
each seed's row, a markdown page, a JSON file and a plot.

The numbers are formatted here only; the JSON keeps them unrounded, so a table can always be checked against it.
"""
from __future__ import annotations

import json
import math
import statistics
import time
from pathlib import Path
from typing import Optional

from .runner import RunOutcome, machine, measure_device
from .suite import Suite


def mean_sd(values: list) -> Optional[dict]:
    """Mean, sample sd (0 for one value) and the values, of the finite numbers among ``values``; None if none."""
    v = [float(x) for x in values if isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)]
    if not v:
        return None
    return {"mean": statistics.mean(v), "sd": statistics.stdev(v) if len(v) > 1 else 0.0, "n": len(v), "values": v}


def fmt_number(x: float, ref: Optional[float] = None) -> str:
    """Three significant digits of ``ref`` (the mean) or more decimals for small values: 45.3, 0.960, 0.0123."""
    r = abs(ref if ref is not None else x)
    digits = 2 if r == 0 else min(6, max(0, 2 - math.floor(math.log10(r))))
    return f"{x:.{digits}f}"


def fmt_mean_sd(stat: Optional[dict]) -> str:
    if stat is None:
        return "-"
    if stat["n"] == 1:
        return fmt_number(stat["mean"])
    return f"{fmt_number(stat['mean'])} ± {fmt_number(stat['sd'], stat['mean'])}"


def summarize(suite: Suite, outcomes: list[RunOutcome]) -> list[dict]:
    """One entry per (variant, mark) that has rows: seeds measured and each column's mean ± sd."""
    out = []
    for v in suite.variants:
        for mark in suite.marks:
            rows = [r for o in outcomes if o.variant == v.name for r in o.rows if float(r["mark"]) == mark]
            if not rows:
                continue
            out.append({"variant": v.name, "mark": mark, "seeds": sorted(r["seed"] for r in rows),
                        "kimg": mean_sd([r.get("kimg") for r in rows]), "step": mean_sd([r.get("step") for r in rows]),
                        "metrics": {c: mean_sd([r.get(c) for r in rows]) for c in suite.columns()}})
    return out


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    line = lambda vals: "| " + " | ".join(v.ljust(w) for v, w in zip(vals, widths)) + " |"  # noqa: E731
    return "\n".join([line(headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)])


def _cell(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return fmt_number(v)
    return str(v)


def provenance(outcomes: list[RunOutcome]) -> list[str]:
    """Where and when the rows were measured: one entry per (machine, instruction set, device, threads) with its row
    count and dates.

    A table can hold rows of several sessions (the ledger); a minutes budget buys different work on different
    machines, so the table says which rows came from where."""
    groups: dict[tuple, list[str]] = {}
    speeds: dict[tuple, list[float]] = {}
    for o in outcomes:
        for r in o.rows:
            mach = r.get("machine") or "machine not recorded"
            key = (f"{mach}, {r['cpu_isa']}" if r.get("cpu_isa") else mach, r.get("device") or "cpu", r.get("threads"))
            groups.setdefault(key, []).append(str(r.get("time") or "")[:10])
            if isinstance(r.get("host_speed"), (int, float)):
                speeds.setdefault(key, []).append(float(r["host_speed"]))
    out = []
    for key, days in groups.items():
        mach, dev, threads = key
        dated = sorted(d for d in days if d)
        when = (dated[0] if dated[0] == dated[-1] else f"{dated[0]} to {dated[-1]}") if dated else "date not recorded"
        thr = f", {threads} thread(s)" if threads else ""
        sp = speeds.get(key)
        probe = (f"; host speed {_span(sp)} img/s ({len(sp)} of its rows)" if sp else "")
        out.append(f"{mach}; device {dev}{thr}{probe}: {len(days)} row{'s' * (len(days) != 1)}, {when}")
    return out


def _span(values: list[float]) -> str:
    lo, hi = min(values), max(values)
    return f"{lo:.0f}" if round(lo) == round(hi) else f"{lo:.0f}-{hi:.0f}"


def speed_notes(suite: Suite, outcomes: list[RunOutcome]) -> list[str]:
    """For a suite whose budget is minutes: whether its rows came from hosts of one speed (bench/speed.py). Rows
    whose probes lie further apart than the suite's ``speed_tolerance``, or rows without a probe beside rows with
    one, are not seeds of one measurement: a minute bought different work on each."""
    if suite.unit != "minutes":
        return []
    from .speed import row_probes, speed_spread

    rows = [r for o in outcomes for r in o.rows]
    probed = row_probes(rows)
    out = []
    if probed and speed_spread(probed) > suite.speed_tolerance:
        out.append(f"The rows' host-speed probes range over {_span(probed)} img/s, {speed_spread(probed):.0%} apart "
                   f"(the suite's tolerance: {suite.speed_tolerance:.0%}): at a minutes budget they are not seeds of "
                   f"one measurement; each row's probe is in the table above and in results.json.")
    if probed and len(probed) < len(rows):
        out.append(f"{len(rows) - len(probed)} of {len(rows)} rows have no host-speed probe (measured before the "
                   f"runner kept one): whether their hosts were as fast as the others' is not known.")
    return out


def markdown(suite: Suite, outcomes: list[RunOutcome], summary: list[dict], threads_note: str = "") -> str:
    unit = {"steps": "steps", "kimg": "kimg", "minutes": "min"}[suite.unit]
    cols = suite.columns()
    data = suite.source or "each preset's own data"
    ref = {"test": "its test split", "holdout": f"the 1,000 bundled training images not trained on",
           "train": "its training images"}[suite.ref]
    lines = [f"# {suite.name}", ""]
    if suite.description:
        lines += [suite.description.strip(), ""]
    lines += [f"- suite: `{suite.path or suite.name}`; seeds {', '.join(map(str, suite.seeds))}; budget "
              f"{suite.budget:g} {suite.unit}, measured at {', '.join(f'{m:g}' for m in suite.marks)} {unit}",
              f"- data: {data}; measured against {ref}; n = {suite.n}; metrics: {', '.join(suite.metrics)}",
              f"- machine: {machine()}; device {measure_device()}; {suite.threads} thread(s) per run{threads_note}; "
              f"written {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"]
    lines += [f"- measured on: {p}" for p in provenance(outcomes)]
    if suite.ledger is not None:
        lines += [f"- ledger: `{suite.ledger}` (rows of earlier sessions count as measured; bench/ledger.py)"]
    lines += [""]
    head = ["variant", f"mark ({unit})", "seeds", "kimg"] + cols
    body = [[s["variant"], f"{s['mark']:g}", str(len(s["seeds"])), fmt_mean_sd(s["kimg"])]
            + [fmt_mean_sd(s["metrics"][c]) for c in cols] for s in summary]
    lines += ["## Mean ± sd over seeds", "", _table(head, body), ""]
    probe = suite.unit == "minutes"  # a minutes budget: the host's speed says what a minute bought
    per = [[r["variant"], str(r["seed"]), f"{float(r['mark']):g}", _cell(r.get("step")), _cell(r.get("kimg")),
            _cell(r.get("minutes"))] + [_cell(r.get(c)) for c in cols]
           + ([_cell(r.get("host_speed"))] if probe else []) + [str(r.get("time") or "-")[:10]]
           for o in outcomes for r in o.rows]
    lines += ["## Each seed", "", _table(["variant", "seed", f"mark ({unit})", "step", "kimg", "train min"] + cols
                                         + (["host img/s"] if probe else []) + ["measured"], per), ""]
    speed = speed_notes(suite, outcomes)
    if speed:
        lines += ["## Hosts of different speed", ""] + [f"- {n}" for n in speed] + [""]
    failed = [o for o in outcomes if o.error]
    if failed:
        lines += ["## Runs that stopped", ""] + [f"- {o.variant}, seed {o.seed}: {o.error}" for o in failed] + [""]
    noted = [(o, n) for o in outcomes for n in o.notes]
    if noted:
        lines += ["## Marks not measured", ""] + [f"- {o.variant}, seed {o.seed}: {n}" for o, n in noted] + [""]
    missing = [o for o in outcomes if not o.error and not o.notes and len(o.rows) < len(suite.marks)]
    if missing:
        lines += ["## Not measured yet", ""] + [f"- {o.variant}, seed {o.seed}: {len(o.rows)} of {len(suite.marks)} marks"
                                                for o in missing] + [""]
    return "\n".join(lines)


def log_scale_wanted(values: list[float], span: float = 4.0) -> bool:
    """Whether a plot of ``values`` reads better on a log axis: all positive and the largest over ``span`` times the
    smallest. One collapsed run (FID 500 among values near 70-150) would otherwise squash every other curve into a
    flat band at the bottom."""
    vals = [v for v in values if v is not None and math.isfinite(v)]
    return bool(vals) and min(vals) > 0 and max(vals) > span * min(vals)


def _plain_tick_labels(axis) -> None:
    """Tick labels as plain numbers (25, 100, 500) on a log axis too, where matplotlib would write 10^2."""
    import matplotlib.ticker

    axis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    axis.set_minor_formatter(matplotlib.ticker.NullFormatter())


def trajectory(summary: list[dict], variant: str, col: str) -> tuple[list[float], list[float], list[float], list[float]]:
    """One variant's curve over the marks: the marks, the median over the seeds measured at each, the lowest and the
    highest seed.

    The median, not the mean: with three seeds and one collapsed (FID 467 among 98 and 103), the mean draws a peak
    that no seed had and that reads as the whole variant collapsing and recovering; the shade still shows the
    collapsed seed."""
    pts = [s for s in summary if s["variant"] == variant and s["metrics"][col] is not None]
    vals = [s["metrics"][col]["values"] for s in pts]
    return ([s["mark"] for s in pts], [statistics.median(v) for v in vals], [min(v) for v in vals],
            [max(v) for v in vals])


def _log_axis(ax, values: list[float]) -> bool:
    """A log y axis with plain tick labels where ``log_scale_wanted(values)``; returns whether it took one."""
    import matplotlib.ticker

    if not log_scale_wanted(values):
        return False
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(matplotlib.ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    _plain_tick_labels(ax.yaxis)
    return True


def _y_limits(ax, measured: list[dict], log: bool) -> None:
    """The y range of the seeds' values and the upper whiskers. A lower whisker (mean - sd) can lie far below every
    seed when one seed collapsed (267 ± 263 over 114, 117 and 571): it runs off the axis rather than stretch a log
    axis down to 4 and press every other value into a band."""
    lo = min(x for m in measured for x in m["values"] + [m["mean"]])
    hi = max(x for m in measured for x in m["values"] + [m["mean"] + m["sd"]])
    if log:
        ax.set_ylim(lo / 1.15, hi * 1.15)
    else:
        pad = 0.05 * (hi - lo) or 0.05 * abs(hi) or 1.0
        ax.set_ylim(lo - pad, hi + pad)


def _at_mark(ax, suite: Suite, items: list[dict], col: str) -> None:
    """Mean ± sd whiskers with each seed's value beside them, one column per variant: no bars from zero, which would
    flatten the differences; a dashed line at the suite's first (reference) variant's mean."""
    xs = range(len(items))
    ax.errorbar(xs, [s["metrics"][col]["mean"] for s in items], yerr=[s["metrics"][col]["sd"] for s in items],
                fmt="o", color="#4c72b0", capsize=4, markersize=7, label="mean ± sd")
    for i, s in zip(xs, items):
        vals = s["metrics"][col]["values"]
        ax.scatter([i + 0.15] * len(vals), vals, color="k", s=10, zorder=3, label="each seed" if i == 0 else None)
    ref = [s for s in items if s["variant"] == suite.variants[0].name]
    if ref and len(items) > 1:
        ax.axhline(ref[0]["metrics"][col]["mean"], color="k", linestyle="--", linewidth=0.8, alpha=0.6)
    ax.set_xlim(-0.6, len(items) - 0.4)
    ax.legend(fontsize=7)
    ax.set_xticks(list(xs))
    ax.set_xticklabels([f"{s['variant']} (n={s['metrics'][col]['n']})" for s in items], rotation=35, ha="right",
                       fontsize=7)


def figure(suite: Suite, summary: list[dict]):
    """The first metric: for one mark, mean ± sd beside each seed per variant; for several, two panels: the median
    curve over the marks with the seeds' range shaded (``trajectory``), and mean ± sd beside each seed at the last
    mark, the budget, as in the table. Log axes where the values span more than a factor of 4
    (``log_scale_wanted``). None when there is nothing to draw."""
    cols = suite.columns()
    if not summary or not cols:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    col = cols[0]
    measured = [s["metrics"][col] for s in summary if s["metrics"][col] is not None]
    every = [x for m in measured for x in m["values"]]
    many = max((m["n"] for m in measured), default=1) > 1
    width = max(5.0, 0.6 * len(suite.variants) + 2)
    if len(suite.marks) == 1:
        fig, ax = plt.subplots(figsize=(width, 3.6), dpi=120)
        _at_mark(ax, suite, [s for s in summary if s["metrics"][col] is not None], col)
        log = _log_axis(ax, every)
        _y_limits(ax, measured, log)
        ax.set_ylabel(f"{col}{' (log scale)' if log else ''}")
        # one seed per row: no spread to show; "mean" would claim seeds that were not run
        ax.set_title(f"{suite.name}: {'mean ± sd over seeds' if many else 'one seed per row'}", fontsize=9)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        return fig
    last = suite.marks[-1]
    final = [s for s in summary if s["mark"] == last and s["metrics"][col] is not None]
    # one y scale for both panels (sharey), so a value reads the same on either
    fig, axes = plt.subplots(1, 2 if final else 1, figsize=(width + (0.45 * len(final) + 2 if final else 0), 3.8),
                             dpi=120, squeeze=False, sharey=True,
                             gridspec_kw={"width_ratios": [1.25, 1] if final else [1]})
    ax = axes[0][0]
    for v in suite.variants:
        xs, mid, lo, hi = trajectory(summary, v.name, col)
        if not xs:
            continue
        ref = v.name == suite.variants[0].name  # the suite's first row is its reference (full, plain, ...)
        line, = ax.plot(xs, mid, marker="o", label=v.name,
                        **({"color": "k", "linewidth": 2.4, "zorder": 3} if ref else {}))
        ax.fill_between(xs, lo, hi, color=line.get_color(), alpha=0.15)
    if log_scale_wanted(list(suite.marks)):  # marks that double (25, 50, 100, 200) sit evenly
        ax.set_xscale("log")
        ax.set_xlabel(f"{suite.unit} (log scale)")
    else:
        ax.set_xlabel(suite.unit)
    ax.set_xticks(suite.marks)
    _plain_tick_labels(ax.xaxis)
    log = _log_axis(ax, every)
    _y_limits(ax, measured, log)  # both panels: they share y
    ax.set_ylabel(f"{col}{' (log scale)' if log else ''}")
    ax.set_title(f"{suite.name}: {'median over seeds; shaded: lowest to highest seed' if many else 'one seed per row'}",
                 fontsize=9)
    ax.grid(alpha=0.3)
    if final:
        right = axes[0][1]
        _at_mark(right, suite, final, col)
        right.tick_params(labelleft=True)
        right.set_title(f"at {last:g} {suite.unit}: {'mean ± sd and each seed' if many else 'one seed per row'}",
                        fontsize=9)
        right.grid(alpha=0.3)
    # the variants' legend right of the panels, where it covers no curve
    handles, labels = ax.get_legend_handles_labels()
    fig.tight_layout(rect=(0.0, 0.0, 0.86, 1.0))
    fig.legend(handles, labels, fontsize=7, loc="center left", bbox_to_anchor=(0.865, 0.55), frameon=False)
    return fig


def plot(suite: Suite, summary: list[dict], path: Path) -> Optional[Path]:
    """``figure`` written to ``path`` (PNG); None when there is nothing to draw."""
    fig = figure(suite, summary)
    if fig is None:
        return None
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def write_results(suite: Suite, outcomes: list[RunOutcome], out_dir: Path, jobs: int = 1,
                  report: Optional[bool] = None) -> dict[str, Path]:
    """results.md, results.json, results.png and the comparison report of the runs, in ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = summarize(suite, outcomes)
    note = f", {jobs} runs at a time" if jobs > 1 else ""
    paths = {"table": out_dir / "results.md", "json": out_dir / "results.json"}
    paths["table"].write_text(markdown(suite, outcomes, summary, note))
    paths["json"].write_text(json.dumps({
        "suite": suite.name, "file": str(suite.path) if suite.path else None, "machine": machine(),
        "device": measure_device(),
        "threads": suite.threads, "jobs": jobs, "unit": suite.unit, "marks": suite.marks, "seeds": suite.seeds,
        "data": suite.source, "ref": suite.ref, "n": suite.n, "metrics": suite.metrics,
        "written": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "measured_on": provenance(outcomes),
        "ledger": str(suite.ledger) if suite.ledger is not None else None, "summary": summary,
        "runs": [{"variant": o.variant, "seed": o.seed, "run_dir": str(o.run_dir), "error": o.error, "notes": o.notes,
                  "rows": o.rows}
                 for o in outcomes]}, indent=1))
    if suite.plot and summary:
        got = plot(suite, summary, out_dir / "results.png")
        if got:
            paths["plot"] = got
    if (suite.report if report is None else report):
        ready = [o.run_dir for o in outcomes if o.rows and (o.run_dir / "checkpoints").is_dir()]
        if ready:
            from ..reporting import build_report

            paths["report"] = build_report(ready, out_dir / "report.html")
    return paths
