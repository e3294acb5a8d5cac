"""Put the last sample grid of several runs side by side, one labelled panel per run, for the docs.

    python scripts/sample_panels.py --cells 4 --out docs/img/colour-20min-samples.png \\
        --title "64x64 emoji after 20 minutes" "the default=runs/bench/default-time-colour/default-s0" ...

Each panel is the top-left ``cells`` x ``cells`` images of the newest grid a run wrote (``samples/NNNNNN.png``: EMA
weights, the run's fixed latents), cut out exactly as the trainer tiled it (``utils.images.make_grid``: square
cells, 2 pixels of padding), so what the docs show is what the run produced, not a new draw. The caption of each
panel adds the run's step count. Nothing is trained or generated.
"""
from __future__ import annotations

import argparse
import math
import re
from pathlib import Path

import numpy as np

GRID = re.compile(r"^(\d{6})\.png$")


def last_grid(run_dir: Path) -> Path:
    """The newest sample grid of a run (the one with the highest step); a clear error where there is none."""
    grids = sorted(p for p in (Path(run_dir) / "samples").glob("*.png") if GRID.match(p.name))
    if not grids:
        raise SystemExit(f"{run_dir} has no sample grid (samples/NNNNNN.png); train the run first or check the path.")
    return grids[-1]


def crop_cells(grid: np.ndarray, n_images: int, cells: int, padding: int = 2) -> np.ndarray:
    """The top-left ``cells`` x ``cells`` images of a grid of ``n_images`` square images tiled near-square with
    ``padding`` pixels around each (the layout of ``make_grid``), with their padding."""
    ncol = max(1, math.ceil(math.sqrt(n_images)))
    size = (grid.shape[1] - padding) // ncol - padding
    if size < 1 or ncol * (size + padding) + padding != grid.shape[1]:
        raise ValueError(f"a grid {grid.shape[1]} pixels wide is not {ncol} square images with {padding} pixels of "
                         f"padding; pass the run's train.grid_size")
    cells = min(cells, ncol)
    end = cells * (size + padding) + padding
    return grid[:end, :end]


def main(argv: list[str] | None = None) -> Path:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", help="LABEL=RUN_DIR, one per panel, left to right")
    ap.add_argument("--out", required=True, help="the PNG to write")
    ap.add_argument("--cells", type=int, default=4, help="images per side of each panel (default: 4)")
    ap.add_argument("--grid-size", type=int, default=64, help="images in each run's grid (train.grid_size; default 64)")
    ap.add_argument("--title", default="", help="a title above the panels")
    args = ap.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    panels = []
    for spec in args.runs:
        label, sep, run = spec.partition("=")
        if not sep:
            raise SystemExit(f"'{spec}' is not LABEL=RUN_DIR; write each run as a label, '=', and its folder.")
        path = last_grid(Path(run))
        try:
            grid = np.asarray(Image.open(path).convert("RGB"))
            panels.append((f"{label}, step {int(path.stem):,}", crop_cells(grid, args.grid_size, args.cells)))
        except (OSError, ValueError) as e:  # an unreadable PNG, or a grid of another size than --grid-size
            raise SystemExit(f"{path}: {e}.") from None
    fig, axes = plt.subplots(1, len(panels), figsize=(3 * len(panels), 3.3), dpi=100, squeeze=False)
    for ax, (label, img) in zip(axes[0], panels):
        ax.imshow(img)
        ax.set_title(label, fontsize=9)
        ax.axis("off")
    if args.title:
        fig.suptitle(args.title, fontsize=10)
    fig.tight_layout()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    # A palette keeps the docs' PNG small; the samples have far fewer than 256 distinct colours that matter.
    Image.open(out).convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(out, optimize=True)
    print(f"wrote {out}")
    return out


if __name__ == "__main__":
    main()
