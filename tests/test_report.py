"""mspgsen report: one self-contained HTML page; checked in a real headless browser (Debian's chromium)."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

import mspgsen
from mspgsen.cli.main import main
from mspgsen.errors import MspgsenError
from tests.conftest import TINY, quiet

OVER = TINY + ["train.steps=6", "train.sample_every=2", "train.log_every=1", "control.apfl=true"]


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    mspgsen.train("dcgan", name="base", runs_dir=runs, overrides=OVER, log=quiet)
    mspgsen.train("dcgan", name="fast-d", runs_dir=runs, overrides=OVER + ["optim.lr_d=4e-4"], log=quiet)
    # A final measurement as `mspgsen evaluate` appends it (FID itself is tested in test_metrics_*).
    with open(runs / "base/metrics.jsonl", "a") as fh:
        fh.write(json.dumps({"kind": "evaluate", "step": 6, "fid": 123.4, "kid": 0.05}) + "\n")
    return runs


@pytest.fixture(scope="module")
def side_by_side(two_runs, tmp_path_factory):
    """The report of both runs, written once for the tests that read it (matplotlib takes seconds)."""
    return mspgsen.report([two_runs / "base", two_runs / "fast-d"], tmp_path_factory.mktemp("page") / "report.html")


def _imgs(page: str) -> list[str]:
    return re.findall(r'<img [^>]*src="([^"]*)"', page)


def test_one_file_with_everything_inlined(side_by_side):
    page = side_by_side.read_text()
    srcs = _imgs(page)
    assert srcs and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert "http://" not in page and "https://" not in page and "<link" not in page and "<script" not in page
    for s in srcs:  # every inlined picture is a PNG that decodes
        import base64
        import io

        Image.open(io.BytesIO(base64.b64decode(s.split(",", 1)[1]))).verify()
    # 3 grids per run over time (steps 2, 4, 6), plus losses, D outputs, knobs, APFL panels
    assert sum("samples at step" in a for a in re.findall(r'alt="([^"]*)"', page)) == 6
    for section in ("Losses", "Discriminator outputs", "controller apfl", "knobs", "Final metrics", "what differs"):
        assert section in page
    assert "123.4" in page  # the evaluation's FID in the final table


def test_several_runs_show_only_the_keys_that_differ(two_runs, side_by_side, tmp_path):
    page = side_by_side.read_text()
    cfg = page.split("what differs</h2>", 1)[1]
    assert "optim.lr_d" in cfg and "0.0004" in cfg
    assert "model.ngf" not in cfg and "optim.lr_g" not in cfg
    single = mspgsen.report(two_runs / "base", tmp_path / "one.html").read_text()
    assert "model.ngf" in single.split("<h2>Config</h2>", 1)[1]  # one run: the whole config


def test_cli_names_and_default_out(two_runs, capsys):
    assert main(["report", "base", "--runs-dir", str(two_runs)]) == 0
    assert (two_runs / "base/report.html").is_file()
    assert main(["report", "nope", "--runs-dir", str(two_runs)]) == 2
    err = capsys.readouterr().err
    assert "not a run folder" in err and err.count("\n") == 1
    with pytest.raises(MspgsenError, match=r"\.html"):
        mspgsen.report(two_runs / "base", two_runs / "r.pdf")


def _browser() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


CHECK = """<script>
window.addEventListener('load', function () {
  var imgs = Array.from(document.images);
  var broken = imgs.filter(function (i) { return !i.complete || i.naturalWidth === 0; }).length;
  document.title = 'IMAGES ' + imgs.length + ' BROKEN ' + broken;
});
</script>"""


def test_report_renders_in_a_real_browser(side_by_side, tmp_path):
    browser = _browser()
    if browser is None:
        pytest.skip("no headless browser here: install Debian's chromium (apt-get install chromium; `make test` does "
                    "it as root) to check the report renders")
    page = side_by_side
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", f"--user-data-dir={tmp_path / 'profile'}"]
    shot = tmp_path / "shot.png"
    r = subprocess.run([browser, *flags, "--window-size=1280,2400", f"--screenshot={shot}", page.as_uri()],
                       capture_output=True, text=True, timeout=120)
    assert shot.is_file(), f"chromium wrote no screenshot: {r.stderr[-500:]}"
    keep = os.environ.get("MSPGSEN_KEEP_SCREENSHOT")  # a path: keep the screenshot to look at it
    if keep:
        shutil.copyfile(shot, keep)
    # The DOM after load, with a probe that counts images that failed to decode (broken images).
    probe = tmp_path / "probe.html"
    probe.write_text(page.read_text().replace("</body>", CHECK + "</body>"))
    dom = subprocess.run([browser, *flags, "--virtual-time-budget=5000", "--dump-dom", probe.as_uri()],
                         capture_output=True, text=True, timeout=120).stdout
    m = re.search(r"IMAGES (\d+) BROKEN (\d+)", dom)
    assert m, "the page did not finish loading in the browser"
    assert int(m.group(1)) == len(_imgs(page.read_text())) and int(m.group(2)) == 0
    px = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert px.std() > 20  # not a blank page
    colourful = (px.max(-1) - px.min(-1)) > 60  # matplotlib's coloured curves (greys have max == min)
    assert colourful.sum() > 500
    dark = (px.max(-1) < 100).mean()  # text, axes and the dark sample grids
    assert 0.005 < dark < 0.6
