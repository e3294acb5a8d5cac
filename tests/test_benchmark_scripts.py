"""The benchmark scripts' own logic (benchmarks/ is not a package: each script is loaded from its file).

No timing is asserted here: speed is what the scripts print, on a quiet machine. These tests check that a script
runs end to end on a tiny case and that its bookkeeping (merging stored rows, interleaved rounds, ratios) is right.
"""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def load(name: str):
    sys.path.insert(0, str(BENCH))  # the scripts import their neighbours (_common, throughput)
    try:
        spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod  # dataclasses look their module up by name
        spec.loader.exec_module(mod)
        return mod
    finally:
        sys.path.remove(str(BENCH))


def test_fid_vs_time_merges_stored_rows_by_variant(tmp_path):
    """--from-json: a variant in a later file replaces that variant's earlier rows, after --rename; the other
    variants' rows are kept."""
    mod = load("fid_vs_time")

    def row(variant, seed, mark, fid):
        return {"variant": variant, "preset": variant, "seed": seed, "mark": mark, "fid": fid}

    old = tmp_path / "old.json"
    old.write_text(json.dumps([row("default", 0, 10.0, 50.0), row("dcgan", 0, 10.0, 38.0)]))
    new = tmp_path / "new.json"
    new.write_text(json.dumps([row("default-new", 0, 10.0, 48.0), row("default-new", 0, 20.0, 42.0)]))
    rows = mod.merge_json([str(old), str(new)], {"default-new": "default"})
    got = sorted((r["preset"], r["mark"], r["fid"]) for r in rows)
    assert got == [("dcgan", 10.0, 38.0), ("default", 10.0, 48.0), ("default", 20.0, 42.0)]
    assert mod.merge_json([str(old), str(new)], {})[-1]["preset"] == "default-new"  # no rename: a variant of its own
    with pytest.raises(SystemExit, match="cannot read rows"):
        mod.merge_json([str(tmp_path / "missing.json")], {})


def test_fid_vs_time_merges_runner_results_by_run(tmp_path):
    """--from-json reads the suite runner's results.json too; a later file with one seed taken further replaces
    that seed's rows and keeps the other seeds (3 seeds to 10 minutes, seed 0 to 20, in one figure)."""
    mod = load("fid_vs_time")

    def results(rows_by_seed):
        return {"suite": "s", "runs": [{"variant": "v", "seed": seed, "rows": [
            {"variant": "v", "preset": "v", "seed": seed, "mark": m, "fid": f} for m, f in marks]}
            for seed, marks in rows_by_seed.items()]}

    ten = tmp_path / "ten.json"
    ten.write_text(json.dumps(results({0: [(10.0, 50.0)], 1: [(10.0, 52.0)], 2: [(10.0, 54.0)]})))
    twenty = tmp_path / "twenty.json"
    twenty.write_text(json.dumps(results({0: [(10.0, 50.0), (20.0, 41.0)]})))
    got = sorted((r["seed"], r["mark"], r["fid"]) for r in mod.merge_json([str(ten), str(twenty)], {}))
    assert got == [(0, 10.0, 50.0), (0, 20.0, 41.0), (1, 10.0, 52.0), (2, 10.0, 54.0)]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"runs": "none"}))
    with pytest.raises(SystemExit, match="nor a results.json"):
        mod.merge_json([str(bad)], {})


def test_throughput_interleaved_rounds_table(monkeypatch, capsys):
    """--rounds 2: every row is timed in each round, the table gains the range column, and DCGAN's own ratio to
    itself is 1.00x in every round."""
    mod = load("throughput")
    monkeypatch.setattr(sys, "argv", ["throughput.py", "--presets", "dcgan", "--row", "dcgan:model.ngf=16",
                                      "--threads", "1", "--seconds", "0.01", "--rounds", "2"])
    mod.main()
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.startswith("| preset"))
    assert "train range" in header and "2 interleaved rounds" in out
    lines = [line for line in out.splitlines() if line.startswith("| dcgan")]
    assert len(lines) == 2 and lines[0].split("|")[-3].strip() == "1.00x"  # vs dcgan, before "first step s"
    assert header.rstrip(" |").endswith("first step s") and float(lines[0].split("|")[-2]) > 0
    assert lines[1].split("|")[3].strip() == "1"  # threads


def test_throughput_ratio_is_the_median_of_per_round_ratios():
    mod = load("throughput")
    row = mod.Row("x", 32, 1, False, None, None, None, {}, train=[10.0, 20.0, 30.0])
    base = mod.Row("dcgan", 32, 1, False, None, None, None, {}, train=[10.0, 40.0, 15.0])
    assert mod.ratio_to_dcgan(row, base) == "1.00x"  # per round 1.0, 0.5, 2.0; the ratio of the medians is 1.33
    assert mod.ratio_to_dcgan(row, None) == "-"


def test_sample_panels_cuts_the_first_cells_of_each_runs_newest_grid(tmp_path):
    """scripts/sample_panels.py: the panel holds exactly the top-left images the trainer tiled (make_grid's layout),
    taken from the grid with the highest step; a path without grids is refused with one sentence."""
    import numpy as np
    from PIL import Image

    from mspgsen.utils.images import make_grid

    spec = importlib.util.spec_from_file_location("sample_panels", BENCH.parent / "scripts" / "sample_panels.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    images = np.stack([np.full((3, 6, 6), i * 4, np.uint8) for i in range(64)])  # image i has value 4i everywhere
    grid = make_grid(images)
    cut = mod.crop_cells(grid, 64, 2)
    assert cut.shape == (2 * 8 + 2, 2 * 8 + 2, 3)
    assert [int(cut[2 + r * 8, 2 + c * 8, 0]) for r in range(2) for c in range(2)] == [0, 4, 32, 36]  # images 0, 1, 8, 9
    with pytest.raises(ValueError, match="grid_size"):
        mod.crop_cells(grid, 49, 2)  # 7 columns cannot tile 66 pixels
    run = tmp_path / "run"
    (run / "samples").mkdir(parents=True)
    Image.fromarray(grid).save(run / "samples" / "000200.png")
    Image.fromarray(np.zeros_like(grid)).save(run / "samples" / "000100.png")
    Image.fromarray(np.zeros_like(grid)).save(run / "samples" / "000200_scales.png")
    assert mod.last_grid(run).name == "000200.png"
    out = mod.main(["a=" + str(run), "b=" + str(run), "--cells", "2", "--out", str(tmp_path / "p.png"), "--title", "t"])
    assert out.is_file() and Image.open(out).size[0] > 0
    with pytest.raises(SystemExit, match="no sample grid"):
        mod.last_grid(tmp_path)


def test_fid_vs_time_describes_stored_rows_by_what_they_record():
    """--from-json tables and plots rows measured elsewhere: the caption names their machine, reference data,
    threads and n, not the machine drawing them or the script's defaults (bundled data, --threads)."""
    mod = load("fid_vs_time")
    rows = [{"machine": "Intel Xeon", "ref": "noto-emoji", "threads": 2, "n": 1000},
            {"machine": "AMD EPYC", "ref": "noto-emoji", "threads": 2, "n": 1000}, {"ref": ""}]
    assert mod.describe_rows(rows) == {"machine": "AMD EPYC / Intel Xeon", "data": "noto-emoji", "threads": "2",
                                       "n": "1000"}
    assert mod.describe_rows([{}])["machine"] == "not recorded"
