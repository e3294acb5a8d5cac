"""Where numbers go: ``stats.jsonl`` (one JSON line per log step) and TensorBoard, on the main process only."""
from __future__ import annotations

import json
import math
import os
from pathlib import Path


class WindowMean:
    """Averages every stat over the steps since the last log line, so logged curves are not single noisy steps."""

    def __init__(self) -> None:
        self.sums: dict[str, float] = {}
        self.counts: dict[str, int] = {}

    def add(self, stats: dict[str, float]) -> None:
        for k, v in stats.items():
            self.sums[k] = self.sums.get(k, 0.0) + float(v)
            self.counts[k] = self.counts.get(k, 0) + 1

    def pop(self) -> dict[str, float]:
        out = {k: self.sums[k] / self.counts[k] for k in self.sums}
        self.sums.clear()
        self.counts.clear()
        return out


class StatsLogger:
    def __init__(self, run_dir: Path, tensorboard: bool = True, enabled: bool = True) -> None:
        self.enabled = enabled
        self.path = Path(run_dir) / "stats.jsonl"
        self._tb = None
        if enabled and tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # tensorboard is a dependency; a broken install should not stop training
                SummaryWriter = None
            if SummaryWriter is not None:
                self._tb = SummaryWriter(str(Path(run_dir) / "tensorboard"))

    def write(self, step: int, kimg: float, stats: dict[str, float]) -> None:
        if not self.enabled:
            return
        row = {"step": step, "kimg": round(kimg, 4)}
        row.update({k: (v if math.isfinite(v) else str(v)) for k, v in stats.items()})
        with open(self.path, "a") as fh:
            fh.write(json.dumps(row) + "\n")
        if self._tb is not None:
            for k, v in stats.items():
                if math.isfinite(v) and not k.startswith("eval/"):  # measurements go to TensorBoard at their own step
                    self._tb.add_scalar(k, v, step)

    def scalars(self, values: dict, step: int) -> None:
        """TensorBoard scalars at their own step (measurements during training), besides the windowed log line."""
        if self._tb is not None:
            for k, v in values.items():
                if isinstance(v, (int, float)) and math.isfinite(v):
                    self._tb.add_scalar(k, v, step)

    @property
    def wants_images(self) -> bool:
        return self._tb is not None

    def image(self, tag: str, grid, step: int) -> None:
        """A uint8 (H, W, C) picture (a sample grid) to TensorBoard's images tab."""
        if self._tb is not None:
            self._tb.add_image(tag, grid, step, dataformats="HWC")

    def truncate_after(self, step: int) -> None:
        """On resume, drop lines written after the checkpoint's step (they will be written again)."""
        if self.enabled:
            truncate_jsonl(self.path, step)

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()


def read_stats(run_dir: Path) -> list[dict]:
    p = Path(run_dir) / "stats.jsonl"
    if not p.exists():
        return []
    rows = []
    for ln in p.read_text().splitlines():
        try:  # a run training now may be writing its last line; a killed one may have left it half-written
            rows.append(json.loads(ln))
        except ValueError:
            continue
    return rows


def truncate_jsonl(path: Path, step: int) -> None:
    """Keep the lines of a JSON-lines log whose ``step`` is at most ``step``."""
    path = Path(path)
    if not path.exists():
        return
    keep = []
    for ln in path.read_text().splitlines():
        try:
            row = json.loads(ln)
        except ValueError:  # the half-written last line of a killed process
            continue
        if isinstance(row, dict) and row.get("step", 0) <= step:
            keep.append(ln)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(ln + "\n" for ln in keep))
    os.replace(tmp, path)  # a kill now leaves the old log or the new one, never half of it
