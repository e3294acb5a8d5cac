"""mspgsen export: TorchScript and ONNX files that reproduce PyTorch at any batch size; CFG is refused."""
from __future__ import annotations

import pytest
import torch

import mspgsen
from mspgsen.cli.main import main
from mspgsen.errors import MspgsenError
from mspgsen.exporter import run_exported

from tests.conftest import TINY, quiet


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    mspgsen.train("dcgan", name="plain", runs_dir=runs, overrides=TINY + ["train.steps=2"], log=quiet)
    mspgsen.train("dcgan", name="cond", runs_dir=runs, overrides=TINY + ["train.steps=2", "model.conditional=true"], log=quiet)
    small = ["train.progress=false", "train.tensorboard=false", "train.batch_size=8", "data.limit=64", "train.grid_size=4",
             "train.steps=1"]
    mspgsen.train("mspgsen", name="multi", runs_dir=runs, overrides=small, log=quiet)  # multi-scale, DEMA, GCTDRN
    return runs


def _reference(run, z, y=None):
    G = mspgsen.load_generator(run)
    with torch.no_grad():
        return G(z, y)


@pytest.mark.parametrize("fmt", ["torchscript", "onnx"])
@pytest.mark.parametrize("name", ["plain", "cond", "multi"])
def test_exported_file_matches_pytorch_at_other_batch_sizes(trained, tmp_path, fmt, name):
    if fmt == "onnx":
        pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (pip install -e '.[export]')")
    res = mspgsen.export(trained / name, fmt, tmp_path / f"g-{name}")
    assert res.path.exists() and res.path.suffix == (".onnx" if fmt == "onnx" else ".pt")
    assert res.max_abs_diff < 1e-4
    G = mspgsen.load_generator(trained / name)
    for n in (1, 5):  # neither is the batch size the graph was traced with (2)
        z = torch.randn(n, G.z_dim, generator=torch.Generator().manual_seed(n))
        y = torch.arange(n) % G.num_classes if G.num_classes else None
        got = torch.as_tensor(run_exported(res.path, z, y))
        want = _reference(trained / name, z, y)
        diff = float((got - want).abs().max())
        print(f"{name} {fmt} batch {n}: max abs difference {diff:.2e}")  # shown with pytest -s
        assert got.shape == (n, 1, 32, 32) and diff < 1e-4
        assert got.min() >= -1 and got.max() <= 1
    if name == "cond":  # the labels input is used: other labels, other images
        z = torch.randn(2, G.z_dim, generator=torch.Generator().manual_seed(0))
        a = torch.as_tensor(run_exported(res.path, z, torch.tensor([0, 0])))
        b = torch.as_tensor(run_exported(res.path, z, torch.tensor([3, 3])))
        assert (a - b).abs().max() > 1e-4


def test_cli_export_default_path_and_message(trained, capsys):
    assert main(["export", "plain", "--runs-dir", str(trained), "--format", "torchscript"]) == 0
    out = capsys.readouterr().out
    assert "max abs difference" in out and "export/generator-step2.pt" in out
    assert (trained / "plain/export/generator-step2.pt").is_file()


def test_cfg_is_refused_with_a_sentence(tmp_path, capsys):
    over = ["model.ngf=8", "model.ndf=8", "model.z_dim=16", "method.T=2", "method.N=16", "method.fit_epochs=1",
            "method.fit_batch=16", "train.batch_size=16", "data.limit=64", "train.progress=false",
            "train.tensorboard=false", "train.grid_size=4", "train.steps=1"]
    mspgsen.train("cfg", name="c", runs_dir=tmp_path, overrides=over, log=quiet)
    with pytest.raises(MspgsenError, match="stored discriminators"):
        mspgsen.export(tmp_path / "c", "onnx")
    assert main(["export", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err
    assert "cannot be exported" in err and "Traceback" not in err and err.count("\n") == 1


def test_unknown_format_is_named(trained):
    with pytest.raises(MspgsenError, match="torchscript, onnx"):
        mspgsen.export(trained / "plain", "tflite")


def test_missing_onnx_says_how_to_install(trained, monkeypatch, tmp_path):
    import sys

    monkeypatch.setitem(sys.modules, "onnx", None)  # as if the export extra were not installed
    with pytest.raises(MspgsenError, match=r"pip install -e '\.\[export\]'"):
        mspgsen.export(trained / "plain", "onnx", tmp_path / "g.onnx")
