"""``mspgsen``: thin verbs over the public API (train, generate, interpolate, evaluate, export, report, runs, bench, data).

Every user error (MspgsenError) is printed as one sentence and exits with status 2; no traceback. An interrupted
run exits 130 (Ctrl-C) or 143 (SIGTERM) after saving, so scripts can tell it from a finished one.
"""
from __future__ import annotations

import argparse
import signal
import sys
import threading
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

    from .bench import add_bench
    from .tools import add_export, add_report, add_runs

    add_evaluate_parser(sub)
    add_export(sub, Formatter)
    add_report(sub, Formatter)
    add_runs(sub, Formatter)
    add_bench(sub, Formatter)
    add_data_parser(sub)
    return p


def _terminated(signum, frame) -> None:
    from ..errors import Interrupted

    raise Interrupted("Stopped by SIGTERM; files already written are kept.", code=143)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run one verb; a user error is one sentence on stderr, never a traceback.

    Exit status: 0 done; 2 a user error (bad input, a refused checkpoint, a diverged run); 1 the system refused
    (a file could not be written); 130 / 143 interrupted by Ctrl-C / SIGTERM (a run saves first, then exits so).
    """
    from ..errors import Interrupted

    old = None
    try:
        if threading.current_thread() is threading.main_thread():
            old = signal.signal(signal.SIGTERM, _terminated)  # the trainer installs its own save-then-stop handler
        parser = build_parser()
        args = parser.parse_args(argv)
        return int(args.func(args) or 0)
    except Interrupted as e:
        print(f"error: {e}", file=sys.stderr)
        return e.code
    except MspgsenError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted (Ctrl-C); files already written are kept.", file=sys.stderr)
        return 130
    except OSError as e:  # the system refused a read or write this command's own checks did not foresee
        where = f" ('{e.filename}')" if e.filename else ""
        print(f"error: {e.strerror or e}{where}; check the path, its permissions and the free space, then try again.",
              file=sys.stderr)
        return 1
    finally:
        if old is not None:
            signal.signal(signal.SIGTERM, old)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
