"""``mspgsen``: thin verbs over the public API (train, generate, interpolate, evaluate, export, report, runs, data).

Every user error (MspgsenError) is printed as one sentence and exits with status 2; no traceback.
"""
from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence

from .. import __version__
from ..errors import MspgsenError


class Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Shows every option's default, and keeps the descriptions' line breaks."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mspgsen", formatter_class=Formatter,
                                description="Train, sample and evaluate MSPG-SEN and its baseline GANs.")
    p.add_argument("--version", action="version", version=f"mspgsen {__version__}")
    sub = p.add_subparsers(dest="verb", metavar="VERB")
    sub.required = True

    from .commands import add_generate, add_interpolate, add_train

    add_train(sub, Formatter)
    add_generate(sub, Formatter)
    add_interpolate(sub, Formatter)
    from ..data.cli import add_data_parser
    from ..metrics.cli import add_evaluate_parser

    from .tools import add_export, add_report, add_runs

    add_evaluate_parser(sub)
    add_export(sub, Formatter)
    add_report(sub, Formatter)
    add_runs(sub, Formatter)
    add_data_parser(sub)
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except MspgsenError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; the last checkpoint is kept and the same command resumes the run", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
