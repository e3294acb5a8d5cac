"""Curves as PNG bytes with matplotlib (Agg, no display): one panel per quantity, one line per run."""
from __future__ import annotations

import io
import math
from typing import Optional, Sequence

from .runfiles import RunFiles

#: Panels of the report, in order: title and the stats keys it draws (those present in no run are left out).
LOSS_KEYS = ("loss_d", "loss_g")
D_OUTPUT_KEYS = ("d_real", "d_fake", "acc_real", "acc_fake")


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    _plt().close(fig)
    return buf.getvalue()


def panels(series: Sequence[tuple[str, list[tuple[str, list[float], list[float]]]]], xlabel: str = "kimg",
           cols: int = 3) -> Optional[bytes]:
    """Draw ``[(panel title, [(run name, xs, ys), ...]), ...]`` as a grid of small plots; None when nothing to draw."""
    series = [(t, lines) for t, lines in series if any(xs for _, xs, _ in lines)]
    if not series:
        return None
    plt = _plt()
    cols = min(cols, len(series))
    rows = math.ceil(len(series) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 2.8 * rows), squeeze=False)
    for ax in axes.flat[len(series):]:
        ax.axis("off")
    for ax, (title, lines) in zip(axes.flat, series):
        for i, (name, xs, ys) in enumerate(lines):
            if xs:
                style = "o-" if len(xs) < 12 else "-"
                ax.plot(xs, ys, style, lw=1.2, ms=3, label=name, color=f"C{i % 10}")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel(xlabel, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        if len(lines) > 1:
            ax.legend(fontsize=7)
    fig.tight_layout()
    return _png(fig)


def stats_panels(runs: list[RunFiles], keys: Sequence[str]) -> Optional[bytes]:
    present = [k for k in keys if any(k in r.keys() for r in runs)]
    return panels([(k, [(r.name, *r.series(k)) for r in runs]) for k in present])


def controller_groups(runs: list[RunFiles]) -> dict[str, list[str]]:
    """Stats keys written by controllers and knobs, grouped by their prefix ('knob', 'apfl', 'dqn', ...)."""
    groups: dict[str, set[str]] = {}
    for r in runs:
        for k in r.keys():
            if "/" in k and not k.startswith("eval/"):
                groups.setdefault(k.split("/", 1)[0], set()).add(k)
    order = sorted(groups, key=lambda g: (g != "knob", g))
    return {g: sorted(groups[g]) for g in order}


def measurement_panels(runs: list[RunFiles]) -> Optional[bytes]:
    """FID, KID and the other measurements made during training, over kimg."""
    keys = sorted({k for r in runs for m in r.measurements for k, v in m.items()
                   if k not in ("step", "kimg") and isinstance(v, (int, float))})
    series = []
    for k in keys:
        lines = []
        for r in runs:
            pts = [(float(m["kimg"]), float(m[k])) for m in r.measurements if isinstance(m.get(k), (int, float)) and "kimg" in m]
            lines.append((r.name, [p[0] for p in pts], [p[1] for p in pts]))
        series.append((k, lines))
    return panels(series)
