"""Export a run's generator as a standalone file: TorchScript (``.pt``) or ONNX (``.onnx``).

The exported graph maps ``z`` (N, z_dim), and for conditional models ``labels`` (N,) int64, to full-resolution
images (N, C, H, W) in [-1, 1]; the batch size N is dynamic. It needs neither mspgsen nor the run folder to run,
which is the point: a trained model goes to a service, a notebook or another language through this file.

A method that makes its samples with more than G (CFG-GAN moves G's image along the gradients of its stored
discriminators) has no feed-forward graph to export, and is refused with a sentence.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch
from torch import nn

from .errors import MspgsenError

FORMATS = ("torchscript", "onnx")
SUFFIX = {"torchscript": ".pt", "onnx": ".onnx"}
#: Methods whose sampling is G alone (``Method.generate`` not overridden) can be exported.
_NOT_EXPORTABLE = {"cfg": "CFG-GAN samples by moving G's image along the gradients of its stored discriminators, "
                          "which no feed-forward file can hold; sample it with `mspgsen generate` instead"}


class ExportedGenerator(nn.Module):
    """G's finest scale, clamped to [-1, 1]; the labels input exists only for conditional models."""

    def __init__(self, G: nn.Module, conditional: bool) -> None:
        super().__init__()
        self.G, self.conditional = G, conditional

    def forward(self, z: torch.Tensor, labels: Optional[torch.Tensor] = None) -> torch.Tensor:
        out = self.G(z, labels if self.conditional else None)
        img = out[-1] if isinstance(out, (list, tuple)) else out
        return img.clamp(-1.0, 1.0)


@dataclass
class ExportResult:
    path: Path
    format: str
    z_dim: int
    num_classes: int
    max_abs_diff: float  # between the exported file and PyTorch on a check batch (batch size other than traced)

    def describe(self) -> str:
        inputs = f"z (N, {self.z_dim}) float32" + (f", labels (N,) int64 in 0..{self.num_classes - 1}" if self.num_classes else "")
        return (f"{self.path}: {self.format}, inputs {inputs} -> images (N, C, H, W) in [-1, 1]; "
                f"checked against PyTorch at batch 3: max abs difference {self.max_abs_diff:.2e}")


def _inputs(handle, n: int, seed: int = 0) -> tuple[torch.Tensor, ...]:
    z = torch.randn(n, handle.z_dim, generator=torch.Generator().manual_seed(seed))
    if handle.num_classes:
        return z, torch.arange(n, dtype=torch.long) % handle.num_classes
    return (z,)


def default_out(run_dir: Path, fmt: str, step: int) -> Path:
    return Path(run_dir) / "export" / f"generator-step{step}{SUFFIX[fmt]}"


def export_generator(run: str | Path, fmt: str = "onnx", out: Optional[str | Path] = None, *, runs_dir: str | Path = "runs",
                     ema: bool = True, opset: int = 18) -> ExportResult:
    """Write the generator of ``run`` (folder, name or checkpoint) to ``out`` and check the file reproduces PyTorch.

    The check runs the written file (TorchScript: ``torch.jit.load``; ONNX: onnxruntime when installed) on a batch
    size other than the one used for tracing, so a batch size baked into the graph would show as an error here.
    """
    from .api import load_generator
    from .engine.run import find_checkpoint

    if fmt not in FORMATS:
        raise MspgsenError(f"Export format '{fmt}' is not known; use one of {', '.join(FORMATS)}.")
    handle = load_generator(run, runs_dir=runs_dir, device="cpu", ema=ema)
    method = handle.config.method.name
    if method in _NOT_EXPORTABLE:
        raise MspgsenError(f"Run '{run}' cannot be exported: {_NOT_EXPORTABLE[method]}.")
    if not handle.resolution:
        raise MspgsenError(f"Run '{run}' makes 2-D points, not images; export is for image generators.")
    ckpt = find_checkpoint(run, runs_dir)
    path = Path(out) if out else default_out(ckpt.parent.parent, fmt, handle.step)
    if path.suffix == "":
        path = path.with_suffix(SUFFIX[fmt])
    path.parent.mkdir(parents=True, exist_ok=True)
    model = ExportedGenerator(handle.G, bool(handle.num_classes)).eval()
    example = _inputs(handle, 2)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if fmt == "torchscript":
            _to_torchscript(model, example, path)
        else:
            _to_onnx(model, example, path, opset, bool(handle.num_classes))
    check = _inputs(handle, 3, seed=1)
    with torch.no_grad():
        want = model(*check)
    got = run_exported(path, *check)
    diff = float((torch.as_tensor(got) - want).abs().max())
    return ExportResult(path, fmt, handle.z_dim, handle.num_classes, diff)


def _to_torchscript(model: nn.Module, example: tuple, path: Path) -> None:
    try:
        traced = torch.jit.trace(model, example, check_trace=False)
    except Exception as e:  # a model family with data-dependent control flow
        raise MspgsenError(f"TorchScript tracing failed ({type(e).__name__}: {str(e).splitlines()[0][:120]}); "
                           f"try --format onnx.") from None
    traced.save(str(path))


def _to_onnx(model: nn.Module, example: tuple, path: Path, opset: int, conditional: bool) -> None:
    try:
        import onnx  # noqa: F401  (torch's exporter needs it)
    except ImportError:
        raise MspgsenError("ONNX export needs the 'onnx' package; install the export extra: pip install -e '.[export]'.") from None
    names = ["z", "labels"] if conditional else ["z"]
    axes = {n: {0: "batch"} for n in names}
    axes["images"] = {0: "batch"}
    try:
        torch.onnx.export(model, example, str(path), input_names=names, output_names=["images"], dynamic_axes=axes,
                          opset_version=opset, dynamo=False)
    except Exception as e:
        raise MspgsenError(f"ONNX export failed ({type(e).__name__}: {str(e).splitlines()[0][:120]}); "
                           f"try --format torchscript.") from None


def run_exported(path: str | Path, z: torch.Tensor, labels: Optional[torch.Tensor] = None):
    """Run an exported file on (z, labels): TorchScript by ``torch.jit.load``, ONNX by onnxruntime.

    Meant for files mspgsen wrote (the check after export, the tests): a TorchScript file is a program, so one from
    elsewhere should be treated like code; ONNX files are graphs of known operators.
    """
    path = Path(path)
    if path.suffix == ".onnx":
        try:
            import onnxruntime as ort
        except ImportError:
            raise MspgsenError("Checking an ONNX file needs onnxruntime; install the export extra: pip install -e '.[export]'.") from None
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        feed = {"z": z.numpy().astype("float32")}
        if labels is not None:
            feed["labels"] = labels.numpy().astype("int64")
        return torch.from_numpy(sess.run(["images"], feed)[0])
    with warnings.catch_warnings():  # torch 2.13 marks TorchScript deprecated; the file format still loads
        warnings.simplefilter("ignore", DeprecationWarning)
        m = torch.jit.load(str(path), map_location="cpu")
    with torch.no_grad():
        return m(z) if labels is None else m(z, labels)


def export(run: str | Path, format: str = "onnx", out: Optional[str | Path] = None, *, runs_dir: str | Path = "runs",
           ema: bool = True, opset: int = 18) -> ExportResult:
    """``mspgsen.export``: write the run's generator as a TorchScript or ONNX file and check it (path, max abs diff).

    It lives here rather than in :mod:`mspgsen.api` because export builds on the API's generator handle; the package
    front door (``mspgsen.export``) points here.
    """
    return export_generator(run, format, out, runs_dir=runs_dir, ema=ema, opset=opset)
