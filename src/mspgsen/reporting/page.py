"""The report page: sections of tables and inlined pictures, written as one HTML file with no outside reference."""
from __future__ import annotations

import base64
import html
import time
from pathlib import Path
from typing import Optional, Sequence

from .. import __version__
from ..errors import MspgsenError
from . import plots
from .runfiles import RunFiles, config_table, read_run

CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px;color:#222;max-width:1400px}
h1{font-size:22px;margin-bottom:4px} h2{font-size:17px;border-bottom:1px solid #ddd;padding-bottom:3px;margin-top:28px}
h3{font-size:14px;margin:14px 0 6px} .meta{color:#666;font-size:12px}
table{border-collapse:collapse;font-size:12px;margin:6px 0} td,th{border:1px solid #ddd;padding:3px 8px;text-align:left}
th{background:#f4f4f4} td.num{text-align:right;font-variant-numeric:tabular-nums}
.row{display:flex;gap:18px;flex-wrap:wrap;align-items:flex-start} figure{margin:0} figcaption{font-size:11px;color:#555}
img.grid{image-rendering:pixelated;border:1px solid #ccc} img.plot{max-width:100%}
.empty{color:#888;font-style:italic;font-size:12px}
"""

#: Final-metric keys shown in the summary table, in this order, with their labels.
FINAL = [("fid", "FID"), ("kid", "KID"), ("precision", "precision"), ("recall", "recall"), ("density", "density"),
         ("coverage", "coverage"), ("cls_score", "class score"), ("cls_classes_covered", "classes covered"),
         ("modes_covered", "modes covered"), ("hq_share", "high-quality share")]


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _img(png: bytes, alt: str, cls: str, width: Optional[int] = None) -> str:
    w = f' width="{width}"' if width else ""
    return f'<img class="{cls}" src="{data_uri(png)}" alt="{html.escape(alt)}"{w}>'


def _grid_width(path: Path, scale: float = 2.0, cap: int = 560) -> int:
    from PIL import Image

    with Image.open(path) as im:
        return int(min(cap, im.width * scale))


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return html.escape(str(v))


def _table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{th}</tr>{body}</table>"


def _plot(png: Optional[bytes], alt: str, what: str) -> str:
    return _img(png, alt, "plot") if png else f'<p class="empty">No {what} in these runs yet.</p>'


def final_metrics(run: RunFiles) -> dict:
    """The last `mspgsen evaluate` result, else the last measurement during training."""
    if run.evaluations:
        return dict(run.evaluations[-1], source=f"mspgsen evaluate, step {run.evaluations[-1].get('step', '?')}")
    if run.measurements:
        return dict(run.measurements[-1], source=f"during training, step {run.measurements[-1].get('step', '?')}")
    return {}


def _overview(runs: list[RunFiles]) -> str:
    from ..engine.listing import run_info

    rows = []
    for r in runs:
        i = run_info(r.path)
        rows.append([html.escape(r.name), html.escape(i.preset), html.escape(f"{i.model}/{i.method}"), html.escape(i.data),
                     _fmt(i.step), "-" if i.kimg is None else _fmt(float(i.kimg)), html.escape(i.state), html.escape(str(r.path))])
    return _table(["run", "closest preset", "model/method", "data", "step", "kimg", "state", "folder"], rows)


def _finals(runs: list[RunFiles]) -> str:
    finals = [final_metrics(r) for r in runs]
    keys = [(k, lab) for k, lab in FINAL if any(k in f for f in finals)]
    if not keys:
        return '<p class="empty">No metrics yet: set eval.every_kimg during training or run `mspgsen evaluate RUN`.</p>'
    rows = [[html.escape(r.name)] + [f'<span class="num">{_fmt(f.get(k, "-"))}</span>' for k, _ in keys]
            + [html.escape(f.get("source", ""))] for r, f in zip(runs, finals)]
    return _table(["run"] + [lab for _, lab in keys] + ["measured"], rows)


def _config(runs: list[RunFiles]) -> str:
    keys, rows = config_table(runs)
    if not rows:
        return '<p class="empty">The runs have the same config.</p>'
    note = "" if len(runs) == 1 else f'<p class="meta">{len(rows)} keys differ; every other key is the same in all runs.</p>'
    return note + _table(["key"] + [r.name for r in runs], [[html.escape(c) for c in row] for row in rows])


def _spaced(items: list, k: int) -> list:
    if len(items) <= k:
        return items
    idx = sorted({round(i * (len(items) - 1) / (k - 1)) for i in range(k)})
    return [items[i] for i in idx]


def _samples(runs: list[RunFiles], max_grids: int) -> str:
    out = []
    for r in runs:
        out.append(f"<h3>{html.escape(r.name)}</h3>")
        if not r.samples:
            out.append('<p class="empty">No sample grids yet.</p>')
            continue
        figs = [f"<figure>{_img(p.read_bytes(), f'{r.name} samples at step {s}', 'grid', _grid_width(p, 1.0 if len(runs) > 1 else 1.5, 300))}"
                f"<figcaption>step {s}</figcaption></figure>" for s, p in _spaced(r.samples, max_grids)]
        if r.scales:
            s, p = r.scales[-1]
            figs.append(f"<figure>{_img(p.read_bytes(), f'{r.name} every scale at step {s}', 'grid', _grid_width(p, 2.0, 300))}"
                        f"<figcaption>every scale, coarse to fine, step {s}</figcaption></figure>")
        out.append('<div class="row">' + "".join(figs) + "</div>")
    return "".join(out)


def render(runs: list[RunFiles], max_grids: int = 6) -> str:
    names = ", ".join(r.name for r in runs)
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>mspgsen report: {html.escape(names)}</title>"
             f"<style>{CSS}</style></head><body>",
             f"<h1>mspgsen report: {html.escape(names)}</h1>",
             f"<p class='meta'>written {time.strftime('%Y-%m-%d %H:%M')} by mspgsen {__version__}; every picture is inside this file</p>",
             "<h2>Runs</h2>", _overview(runs),
             "<h2>Final metrics</h2>", _finals(runs),
             "<h2>Samples over training</h2>", _samples(runs, max_grids),
             "<h2>Losses</h2>", _plot(plots.stats_panels(runs, plots.LOSS_KEYS), "loss curves", "losses"),
             "<h2>Discriminator outputs</h2>", _plot(plots.stats_panels(runs, plots.D_OUTPUT_KEYS), "D outputs", "D outputs")]
    groups = plots.controller_groups(runs)
    parts.append("<h2>Knobs and controllers</h2>")
    if not groups:
        parts.append('<p class="empty">No knob or controller timelines in these runs.</p>')
    for g, keys in groups.items():
        title = "knobs (learning rates, D steps)" if g == "knob" else f"controller {g}"
        parts += [f"<h3>{html.escape(title)}</h3>", _plot(plots.stats_panels(runs, keys), f"{g} timeline", g)]
    parts += ["<h2>Measurements during training</h2>", _plot(plots.measurement_panels(runs), "FID/KID over training",
                                                                "measurements during training (eval.every_kimg)"),
              "<h2>Config</h2>" if len(runs) == 1 else "<h2>Config: what differs</h2>", _config(runs), "</body></html>"]
    return "\n".join(parts)


def build_report(runs: str | Path | Sequence[str | Path], out: Optional[str | Path] = None, *, runs_dir: str | Path = "runs",
                 max_grids: int = 6) -> Path:
    """Write the report of one run or several (side by side) and return its path.

    Default ``out``: ``RUN/report.html`` for one run, ``report.html`` here for several.
    """
    items = [runs] if isinstance(runs, (str, Path)) else list(runs)
    if not items:
        raise MspgsenError("Give at least one run to report on.")
    loaded = [read_run(r, runs_dir) for r in items]
    names = [r.name for r in loaded]
    if len(set(names)) != len(names):
        for i, r in enumerate(loaded):  # same folder names from different runs dirs: keep them apart
            if names.count(r.name) > 1:
                r.name = f"{r.name} ({r.path.parent.name})"
    path = Path(out) if out else (loaded[0].path / "report.html" if len(loaded) == 1 else Path("report.html"))
    if path.suffix.lower() not in (".html", ".htm"):
        raise MspgsenError(f"--out '{path}' must end in .html.")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(loaded, max_grids), encoding="utf-8")
    return path
