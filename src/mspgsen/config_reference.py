"""docs/config.md, generated: every config key with its type, default and meaning, from the code itself.

The meanings are the one comment each field carries in its dataclass (``schema.py`` for the sections, each
component's options dataclass for ``model.*``, ``method.*`` and ``control.*``), so the reference cannot drift from
the code: ``tests/test_config_reference.py`` fails when docs/config.md differs from what this module writes.

    python -m mspgsen.config_reference > docs/config.md     (or: make docs)
"""
from __future__ import annotations

import dataclasses
import inspect
import re
import sys
import typing
from typing import Any

_FIELD = re.compile(r"^\s+(\w+)\s*:\s*[^#]*?(?:#\s*(.*))?$")
_COMMENT = re.compile(r"^\s+#\s?(.*)$")


def field_comments(cls: type) -> dict[str, str]:
    """Field name -> its comment (a trailing ``# ...`` plus any comment lines right below), over the class's MRO."""
    out: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        try:
            lines = inspect.getsource(klass).splitlines()
        except (OSError, TypeError):
            continue
        names = {f.name for f in dataclasses.fields(klass)}
        last = None
        for line in lines[1:]:
            c = _COMMENT.match(line)
            if c and last:
                out[last] = (out.get(last, "") + " " + c.group(1).strip()).strip()
                continue
            m = _FIELD.match(line)
            if m and m.group(1) in names and ("=" in line.split("#")[0] or ":" in line.split("#")[0]):
                last = m.group(1)
                if m.group(2):
                    out[last] = m.group(2).strip()
            else:
                last = None
    return out


def _type(tp: Any) -> str:
    if isinstance(tp, str):
        return tp
    origin = typing.get_origin(tp)
    if origin is typing.Literal:
        return " \\| ".join(repr(a) for a in typing.get_args(tp))
    if typing.get_args(tp):
        return str(tp).replace("typing.", "").replace("|", "or")
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _default(f: dataclasses.Field) -> str:
    if f.default is not dataclasses.MISSING:
        v = f.default
    elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        v = f.default_factory()  # type: ignore[misc]
    else:
        return "(required)"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return f"'{v}'"
    if isinstance(v, tuple):
        v = list(v)
    return str(v)


#: Meanings of fields that many dataclasses share without a comment of their own.
SHARED = {"enabled": "Switch this controller on."}


def table(cls: type, prefix: str, notes_from: type | None = None) -> list[str]:
    hints = typing.get_type_hints(cls, include_extras=False) if cls.__module__ in sys.modules else {}
    notes = {**SHARED, **field_comments(cls), **(field_comments(notes_from) if notes_from else {})}
    rows = ["| key | type | default | meaning |", "|---|---|---|---|"]
    for f in dataclasses.fields(cls):
        if f.name.startswith("_"):
            continue
        meaning = notes.get(f.name, "").replace("|", "\\|")
        rows.append(f"| `{prefix}{f.name}` | {_type(hints.get(f.name, f.type))} | `{_default(f)}` | {meaning} |")
    return rows if len(rows) > 2 else ["No options."]


def render() -> str:
    """The whole of docs/config.md."""
    from . import components  # noqa: F401  (every model, method and controller registers itself)
    from .config import schema
    from .control.base import CONTROLLERS
    from .methods.base import METHODS
    from .models.base import MODELS

    out = ["# Config reference", "",
           "Every key a run's config can hold, its default and what it does. A preset (`--config NAME`) or a YAML file",
           "sets some of them; `--set key=value` overrides any one; `mspgsen train --dry-run` prints the result.",
           "This file is generated from the code (`python -m mspgsen.config_reference > docs/config.md`, or `make docs`);",
           "a test fails when it is out of date.", "",
           "## Top level", "", *table(schema._Seed, "", notes_from=schema.Config), ""]
    for name, cls in (("data", schema.DataConfig), ("optim", schema.OptimConfig), ("train", schema.TrainConfig),
                      ("eval", schema.EvalConfig)):
        out += [f"## {name}", "", *table(cls, f"{name}."), ""]
    for section, reg, intro in (
            ("model", MODELS, "`model.name` picks the generator/discriminator family; its options sit beside it."),
            ("method", METHODS, "`method.name` picks the training algorithm; its options sit beside it."),
            ("control", CONTROLLERS, "Controllers switch on with `control.NAME=true` (or a mapping of options with "
                                     "`enabled: true`).")):
        out += [f"## {section}", "", intro, ""]
        for n in reg.names():
            e = reg.get(n)
            doc = f" {e.doc}" if e.doc else ""
            out += [f"### {section} `{n}`", "", doc.strip(), "", *table(e.options, f"{section}." if section != "control" else f"control.{n}."), ""]
    return "\n".join(line.rstrip() for line in out).rstrip() + "\n"


if __name__ == "__main__":  # pragma: no cover
    sys.stdout.write(render())
