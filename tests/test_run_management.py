"""mspgsen runs, run states, resume by name alone, bare names as runs, and what training says before it starts."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

import mspgsen
from mspgsen.cli.main import main
from mspgsen.engine.listing import closest_preset, list_runs
from mspgsen.engine.status import read_status, write_status
from mspgsen.errors import ConfigError, TrainingDiverged
from tests.conftest import TINY, quiet


def _train(runs, name, *extra, steps=2):
    args = ["train", "--config", "dcgan", "--steps", str(steps), "--runs-dir", str(runs), "--name", name]
    for t in TINY + list(extra):
        args += ["--set", t]
    return main(args)


def test_runs_lists_state_preset_and_latest_fid(runs, monkeypatch, capsys):
    assert _train(runs, "done") == 0
    with open(runs / "done/metrics.jsonl", "a") as fh:
        fh.write(json.dumps({"kind": "evaluate", "step": 2, "fid": 87.25}) + "\n")
    assert _train(runs, "wider", "model.ngf=16") == 0
    # diverged: a NaN loss at the third step
    from mspgsen.methods import gan

    real = gan.GANMethod.step
    calls = {"n": 0}

    def step(self, data, knobs):
        calls["n"] += 1
        out = real(self, data, knobs)
        if calls["n"] == 3:
            out["loss_d"] = float("nan")
        return out

    monkeypatch.setattr(gan.GANMethod, "step", step)
    with pytest.raises(TrainingDiverged):
        mspgsen.train("dcgan", name="nan", runs_dir=runs, overrides=TINY + ["train.steps=5"], log=quiet)
    monkeypatch.setattr(gan.GANMethod, "step", real)
    # a session killed without a word: its status still says running, but its process is gone
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    monkeypatch.setattr("os.getpid", lambda: dead.pid)
    write_status(runs / "wider", "running", 2, 0.03)
    monkeypatch.undo()
    assert read_status(runs / "wider")["state"] == "interrupted"

    infos = {i.name: i for i in list_runs(runs)}
    assert infos["done"].state == "finished" and infos["done"].fid == 87.25 and infos["done"].step == 2
    assert infos["done"].preset.startswith("dcgan")
    assert infos["nan"].state == "diverged"
    assert infos["wider"].state == "interrupted"
    capsys.readouterr()
    assert main(["runs", "--runs-dir", str(runs)]) == 0
    out = capsys.readouterr().out
    head, rule, *rows = out.strip().splitlines()
    assert head.split() == ["name", "preset", "model/method", "data", "step", "kimg", "FID", "state", "age"]
    assert len(rows) == 3 and any("87.25" in r and "finished" in r for r in rows)
    assert main(["runs", "--runs-dir", str(runs / "none")]) == 2


def test_closest_preset_counts_the_keys_that_differ():
    base = mspgsen.load_config("wgan-gp").to_plain()
    assert closest_preset(base) == "wgan-gp"
    base["optim"]["lr_d"] = 1e-3
    base["train"]["steps"] = 99  # the budget does not count
    base["optim"]["impl"], base["eval"]["n"] = "loop", 50  # nor any other key a resume may change (engine.run)
    assert closest_preset(base) == "wgan-gp, 1 key"
    base["control"] = {"apfl": {"enabled": True}}
    assert closest_preset(base) == "wgan-gp +apfl, 1 key"


def test_resume_by_name_alone_uses_the_stored_config(runs, capsys):
    assert _train(runs, "shoes", "model.ngf=16") == 0
    capsys.readouterr()
    assert main(["train", "--name", "shoes", "--steps", "3", "--runs-dir", str(runs)]) == 0  # no --config, no --set
    cap = capsys.readouterr()
    assert "using its stored config" in cap.err and "step:       3" in cap.out
    assert "ngf: 16" in (runs / "shoes/config.yaml").read_text()


def test_a_bare_name_is_a_run_before_a_folder_of_the_same_name(runs, tmp_path, monkeypatch, capsys):
    _train(runs, "faces")
    (tmp_path / "faces").mkdir()  # the user's data folder, in the working directory
    (tmp_path / "faces" / "a.png").write_bytes(b"")
    monkeypatch.chdir(tmp_path)
    assert main(["generate", "faces", "--runs-dir", str(runs), "--seeds", "0", "--out", str(tmp_path / "o")]) == 0
    assert (tmp_path / "o" / "seed00000.png").is_file()


def test_training_says_what_data_and_networks_it_uses(runs):
    lines: list[str] = []
    mspgsen.train("dcgan", name="talk", runs_dir=runs, overrides=TINY + ["train.steps=1", "train.threads=1"],
                  log=lambda *a, **k: lines.append(" ".join(map(str, a))))
    text = "\n".join(lines)
    assert "fashion-mnist-subset" in text and "256 images, 32x32, 1 channel" in text
    assert "padded 28x28 -> 32x32" in text and "10 classes" in text
    assert "parameters: G " in text and ", D " in text
    assert "budget:   1 steps" in text and "cpu, 1 CPU thread" in text


def test_dry_run_shows_values_resolved_from_the_data(capsys):
    assert main(["train", "--config", "dcgan", "--dry-run", "--set", "data.limit=100"]) == 0
    out = capsys.readouterr().out
    assert "resolution: 32" in out and "channels: 1" in out and "resolution: 0" not in out
    assert "# data: 100 images, 32x32" in out and "# parameters: G " in out


def test_list_presets_describes_each(capsys):
    assert main(["train", "--list-presets"]) == 0
    rows = capsys.readouterr().out.strip().splitlines()
    from mspgsen.config import DEFAULT_PRESET, preset_names

    assert len(rows) == len(preset_names())
    for row in rows:
        name, _, desc = row.partition("  ")
        assert len(desc.strip()) > 20, row
    assert sum(r.startswith(f"{DEFAULT_PRESET} (default)") for r in rows) == 1
    assert sum("(default)" in r.split("  ")[0] for r in rows) == 1


def test_evaluate_help_lists_cifar10(capsys):
    for argv in (["evaluate", "--help"], ["--help"]):
        with pytest.raises(SystemExit):
            main(argv)
    out = capsys.readouterr().out
    assert "cifar10" in out and "cached" in out
    for verb in ("export", "report", "runs"):
        assert verb in out


def test_a_run_made_before_an_option_existed_resumes_with_its_default(runs, tmp_path):
    """A run whose config.yaml and checkpoints predate an option (here: model.z_dim removed from both, as if it had
    been added to the code since) resumes with the option's default and says so; its old checkpoint still samples."""
    import torch
    import yaml

    mspgsen.train("dcgan", name="old", runs_dir=runs, overrides=TINY + ["train.steps=2"], log=quiet)
    stored = runs / "old" / "config.yaml"
    raw = yaml.safe_load(stored.read_text())
    assert raw["model"].pop("z_dim") == 100  # dcgan's default
    stored.write_text(yaml.safe_dump(raw))
    ckpt = runs / "old" / "checkpoints" / "ckpt-00000002.pt"
    state = torch.load(ckpt, weights_only=True)
    del state["config"]["model"]["z_dim"]
    torch.save(state, ckpt)
    said: list[str] = []
    res = mspgsen.train("dcgan", name="old", runs_dir=runs, overrides=TINY + ["train.steps=4"],
                        log=lambda *a, **_k: said.append(" ".join(map(str, a))))
    assert res.step == 4
    assert any("before the option(s) model.z_dim existed" in s and "model.z_dim=100" in s for s in said), said
    out = tmp_path / "g.png"
    assert main(["generate", str(ckpt), "--n", "2", "--grid", "--out", str(out)]) == 0 and out.exists()
    with pytest.raises(ConfigError, match="different config: model.z_dim"):
        mspgsen.train("dcgan", name="old", runs_dir=runs, overrides=TINY + ["train.steps=6", "model.z_dim=64"], log=quiet)
