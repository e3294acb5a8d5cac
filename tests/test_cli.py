"""The mspgsen command: train, generate, interpolate from a run folder alone, help texts, bad input."""
from __future__ import annotations

import subprocess
import sys

import pytest
from PIL import Image

from mspgsen.cli.main import main
from mspgsen.cli.commands import parse_seeds
from mspgsen.errors import MspgsenError


def _train(runs, tiny, *extra):
    args = ["train", "--config", "dcgan", "--steps", "2", "--runs-dir", str(runs), "--name", "cli"]
    for t in tiny:
        args += ["--set", t]
    return main(args + list(extra))


def test_train_generate_interpolate(runs, tiny, tmp_path, capsys):
    assert _train(runs, tiny) == 0
    out = capsys.readouterr().out
    assert "samples:" in out and "checkpoint:" in out
    grid = tmp_path / "g.png"
    assert main(["generate", str(runs / "cli"), "--seeds", "0-5", "--grid", "--out", str(grid)]) == 0
    assert Image.open(grid).size[0] > 32
    folder = tmp_path / "imgs"
    assert main(["generate", "cli", "--runs-dir", str(runs), "--n", "3", "--out", str(folder)]) == 0
    assert sorted(p.name for p in folder.iterdir()) == ["seed00000.png", "seed00001.png", "seed00002.png"]
    gif = tmp_path / "walk.gif"
    assert main(["interpolate", str(runs / "cli"), "--seeds", "0,7,3", "--frames", "4", "--out", str(gif)]) == 0
    im = Image.open(gif)
    assert im.n_frames == 7  # 3 + 3 + the last seed
    strip = tmp_path / "walk.png"
    assert main(["interpolate", str(runs / "cli"), "--seeds", "0,1", "--frames", "3", "--out", str(strip)]) == 0
    assert Image.open(strip).size[0] > Image.open(strip).size[1]


def test_same_seed_same_image(runs, tiny, tmp_path):
    _train(runs, tiny)
    a, b = tmp_path / "a", tmp_path / "b"
    main(["generate", str(runs / "cli"), "--seeds", "5,6", "--out", str(a)])
    main(["generate", str(runs / "cli"), "--seeds", "6", "--out", str(b)])
    assert (a / "seed00006.png").read_bytes() == (b / "seed00006.png").read_bytes()


def test_dry_run_prints_resolved_config(capsys):
    assert main(["train", "--config", "wgan-gp", "--dry-run", "--set", "optim.lr_d=3e-4"]) == 0
    out = capsys.readouterr().out
    assert "lr_d: 0.0003" in out and "n_critic: 5" in out


@pytest.mark.parametrize("argv, words", [
    (["train", "--set", "optim.lr_gg=1"], "lr_g"),
    (["train", "--config", "nope"], "Unknown preset"),
    (["generate", "/nonexistent/run"], "neither a run folder"),
    (["train", "--data", "/no/such/folder", "--dry-run"], None),
])
def test_bad_input_is_one_sentence_and_exit_2(argv, words, capsys):
    code = main(argv)
    err = capsys.readouterr().err
    if words is None:  # --dry-run does not load the data
        assert code == 0
        return
    assert code == 2 and words in err and "Traceback" not in err
    assert err.count("\n") == 1


def test_parse_seeds():
    assert parse_seeds("0-3") == [0, 1, 2, 3]
    assert parse_seeds("0,7,3") == [0, 7, 3]
    assert parse_seeds("1-2,9") == [1, 2, 9]
    with pytest.raises(MspgsenError):
        parse_seeds("a-b")


def test_help_lists_every_option_with_defaults():
    out = subprocess.run([sys.executable, "-m", "mspgsen", "train", "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    for opt in ("--config", "--data", "--set", "--steps", "--kimg", "--minutes", "--name", "--runs-dir", "--seed", "--new", "--dry-run"):
        assert opt in out.stdout
    assert "default: runs" in out.stdout
    top = subprocess.run([sys.executable, "-m", "mspgsen", "--help"], capture_output=True, text=True).stdout
    for verb in ("train", "generate", "interpolate"):
        assert verb in top
