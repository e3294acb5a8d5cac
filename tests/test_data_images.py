"""Grids, strips and GIFs written with Pillow from model-range tensors and uint8 arrays."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from mspgsen.utils.images import make_grid, save_gif, save_grid, save_strip, to_uint8


def test_to_uint8_maps_model_range_and_layouts():
    t = torch.tensor([-1.0, 0.0, 1.0, 2.0]).view(1, 1, 2, 2)
    np.testing.assert_array_equal(to_uint8(t).ravel(), [0, 128, 255, 255])
    hwc = np.zeros((2, 5, 6, 3), np.uint8)
    assert to_uint8(hwc).shape == (2, 3, 5, 6)
    assert to_uint8(np.zeros((7, 9, 9), np.uint8)).shape == (7, 1, 9, 9)
    assert to_uint8([torch.zeros(3, 4, 4), torch.zeros(3, 4, 4)]).shape == (2, 3, 4, 4)


def test_grid_places_each_image_in_its_cell():
    x = np.stack([np.full((1, 4, 4), 10 * (i + 1), np.uint8) for i in range(5)])
    g = make_grid(x, nrow=3, padding=1, pad_value=0)
    assert g.shape == (2 * 5 + 1, 3 * 5 + 1, 1)
    assert g[1, 1, 0] == 10 and g[1, 6, 0] == 20 and g[6, 6, 0] == 50
    assert g[7, 12, 0] == 0  # the sixth cell is empty padding


def test_save_grid_from_tensor_and_uint8(tmp_path):
    p = save_grid(torch.rand(10, 3, 8, 8) * 2 - 1, tmp_path / "sub" / "g.png")
    im = Image.open(p)
    assert im.mode == "RGB" and im.size == (4 * 10 + 2, 3 * 10 + 2)  # 4 columns for 10 images
    q = save_grid(np.zeros((4, 1, 8, 8), np.uint8), tmp_path / "g1.png", nrow=4, scale=2)
    assert Image.open(q).mode == "L" and Image.open(q).size == (2 * (4 * 10 + 2), 2 * 12)


def test_strip_and_gif(tmp_path):
    s = Image.open(save_strip(torch.zeros(6, 1, 8, 8), tmp_path / "s.png"))
    assert s.size == (6 * 10 + 2, 12)
    frames = [torch.full((4, 3, 8, 8), v) for v in (-1.0, 0.0, 1.0)]
    gif = Image.open(save_gif(frames, tmp_path / "a.gif", duration_ms=50))
    assert gif.n_frames == 3
    gif.seek(2)
    assert np.asarray(gif.convert("L"))[5, 5] == 255


def test_empty_inputs_raise():
    with pytest.raises(ValueError):
        make_grid(np.zeros((0, 1, 4, 4), np.uint8))
    with pytest.raises(ValueError):
        save_gif([], "x.gif")
