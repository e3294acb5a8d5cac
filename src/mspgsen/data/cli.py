"""``mspgsen data list`` and ``mspgsen data inspect SOURCE``: what data there is, and what a source holds."""
from __future__ import annotations

import argparse
import sys

from .download import REMOTES, download
from .sources import BUILTINS


def cmd_list(args: argparse.Namespace) -> int:
    width = max(len(n) for n in BUILTINS)
    for name, b in BUILTINS.items():
        print(f"{name:<{width}}  {b.description}")
        print(f"{'':<{width}}  {b.where()}")
    print("\nAlso accepted as data.source: a folder of images (PNG/JPEG/WebP, subfolders = classes), an .npz "
          "(x/images, y/labels), an IDX file or folder, CIFAR-10 batches or cifar-10-python.tar.gz.")
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    from .inspect import inspect_source

    grid = None if args.no_grid else (args.out or f"{_slug(args.source)}-{args.split}-grid.png")
    s = inspect_source(args.source, args.split, args.resolution, args.channels, grid)
    print("\n".join(s.lines()))
    return 0


def cmd_download(args: argparse.Namespace) -> int:
    if args.name == "noto-emoji":  # an npm package, fetched with npm (data/emoji.py)
        from . import emoji

        path = emoji.prepare()
        print(f"noto-emoji: ready in {path}")
        return 0
    folder = download(args.name)
    print(f"{args.name}: ready in {folder}")
    return 0


def _slug(source: str) -> str:
    from pathlib import Path

    name = Path(source).name or "data"
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name.split(".")[0]) or "data"


def add_data_parser(subparsers: "argparse._SubParsersAction") -> argparse.ArgumentParser:
    """Add ``data`` with its sub-verbs to the main parser; each sets ``func(args) -> int``."""
    p = subparsers.add_parser("data", help="list data sources, inspect one", description=__doc__)
    sub = p.add_subparsers(dest="data_command", metavar="{list,inspect,download}")
    sub.required = True
    pl = sub.add_parser("list", help="built-in data sets and where each was found or how to get it")
    pl.set_defaults(func=cmd_list)
    pi = sub.add_parser("inspect", help="count, shape, value range, labels and a sample grid PNG")
    pi.add_argument("source", help="a built-in name (see `data list`) or a path")
    pi.add_argument("--split", default="train", help="train or test (default: train)")
    pi.add_argument("--resolution", type=int, default=0, help="side the model would see (default: the data's own, padded to a power of two)")
    pi.add_argument("--channels", type=int, default=0, choices=[0, 1, 3], help="1 grey, 3 RGB, 0 the data's own")
    pi.add_argument("--out", default=None, help="where to write the sample grid (default: SOURCE-SPLIT-grid.png)")
    pi.add_argument("--no-grid", action="store_true", help="print the summary only")
    pi.set_defaults(func=cmd_inspect)
    pd = sub.add_parser("download", help="fetch a public data set into the cache, checking its checksums (needs a network)")
    pd.add_argument("name", choices=sorted([*REMOTES, "noto-emoji"]))
    pd.set_defaults(func=cmd_download)
    return p


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry for ``python -m mspgsen.data.cli`` until the main CLI wires the verb in."""
    from ..errors import MspgsenError

    parser = argparse.ArgumentParser(prog="mspgsen")
    add_data_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except MspgsenError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
