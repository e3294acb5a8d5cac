"""Dependencies point one way (docs/architecture.md): every import between the package's rooms, read from the source
with ``ast``, is one the architecture allows, and the rooms form no circle."""
from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import mspgsen

ROOT = Path(mspgsen.__file__).parent

#: Room -> the rooms it may import. A module's room is its first path part under src/mspgsen (file or package);
#: the thin CLI verbs that live beside their room (data/cli.py, metrics/cli.py) belong to the cli room.
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "contract": set(),  # the shared vocabulary of methods, controllers and the trainer: a leaf
    "annealing": set(),  # pure annealing math (CFG's eta_t, NATS's weight): a leaf
    "shard": set(),  # this rank's slice of a global-batch random draw (losses, methods, engine): a leaf
    "registry": {"errors"},
    "utils": {"errors"},
    "losses": {"errors", "shard"},
    "nn": {"losses", "errors"},  # DEMA computes eq (7) with the pure loss function
    "data": {"errors", "registry", "utils"},
    "models": {"nn", "losses", "data", "errors", "registry"},
    "methods": {"contract", "annealing", "shard", "models", "losses", "nn", "data", "errors", "registry"},
    "control": {"contract", "annealing", "errors", "registry"},
    "metrics": {"data", "models", "nn", "errors", "registry", "utils"},
    "components": {"models", "methods", "control"},
    "config": {"components", "contract", "errors", "registry"},  # validation looks components up by name
    "engine": {"config", "contract", "control", "methods", "models", "data", "metrics", "losses", "nn", "errors",
               "registry", "utils", "annealing", "components", "shard"},
    "sampling": {"errors"},  # latents for sampling (truncation, labels)
    "api": {"config", "engine", "data", "metrics", "models", "errors", "registry", "utils", "components", "sampling"},
    "exporter": {"api", "engine", "errors"},  # builds on the API's generator handle
    "reporting": {"engine", "config", "errors"},  # reads run folders; compares their configs with config.flatten
    "config_reference": {"components", "config", "control", "methods", "models"},  # writes docs/config.md
    "bench": {"api", "config", "engine", "data", "metrics", "reporting", "errors"},  # suites: train, measure, tabulate
    "cli": {"api", "config", "engine", "data", "metrics", "models", "errors", "registry", "utils", "components",
            "sampling", "exporter", "reporting", "config_reference", "bench"},
}
VERSION = "__version__"  # `from .. import __version__` reads a constant of the package, not a room


def room_of(path: Path) -> str:
    rel = path.relative_to(ROOT).parts
    if len(rel) == 2 and rel[1] == "cli.py":
        return "cli"
    return rel[0].removesuffix(".py")


def imported_rooms(path: Path) -> set[str]:
    pkg = list(path.relative_to(ROOT.parent).with_suffix("").parts)[:-1]  # the importing module's package
    return rooms_in(path.read_text(), pkg)


def rooms_in(source: str, pkg: list[str]) -> set[str]:
    """Rooms of mspgsen that ``source`` (a module of package ``pkg``) imports, at top level or inside functions."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            base = pkg[: len(pkg) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else [])).split(".")
            if target[0] != "mspgsen":
                continue
            if len(target) > 1:
                out.add(target[1])
            else:  # `from .. import x`: x is a room, or a name of the package itself
                out.update(VERSION if a.name == VERSION else ("api" if a.name not in ALLOWED else a.name)
                           for a in node.names)
        elif isinstance(node, ast.Import):
            out.update(a.name.split(".")[1] for a in node.names if a.name.startswith("mspgsen."))
    return out


def graph() -> dict[str, dict[str, list[str]]]:
    """room -> imported room -> the files that import it."""
    g: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for path in ROOT.rglob("*.py"):
        if path.parent == ROOT and path.name in ("__init__.py", "__main__.py"):
            continue  # the package's front door re-exports the API
        src = room_of(path)
        for dst in imported_rooms(path) - {src, VERSION}:
            g[src][dst].append(str(path.relative_to(ROOT)))
    return g


def test_every_import_between_rooms_is_allowed():
    bad = [f"{src} -> {dst} ({', '.join(files)})" for src, deps in graph().items() for dst, files in deps.items()
           if dst not in ALLOWED.get(src, set())]
    assert not bad, "imports against the architecture:\n" + "\n".join(bad)


def test_methods_and_controllers_do_not_know_each_other():
    g = graph()
    assert "control" not in g["methods"] and "methods" not in g["control"]
    assert not g["contract"] and not g["annealing"]  # both are leaves


def test_the_rooms_form_no_circle():
    g = {src: set(deps) for src, deps in graph().items()}
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(g.get(node, ())):
            if state.get(nxt) == 1:
                raise AssertionError("import circle: " + " -> ".join(trail + [node, nxt]))
            if nxt not in state:
                visit(nxt, trail + [node])
        state[node] = 2

    for room in sorted(g):
        if room not in state:
            visit(room, [])


def test_the_parser_finds_every_form_of_import():
    # the checks above are only as good as this: relative, absolute, nested and package-level imports
    src = ("from ..methods.gan import GANMethod\nfrom .base import Controller\nimport mspgsen.engine.trainer\n"
           "def f():\n    from ...mspgsen import api\n    from .. import __version__\n")
    assert rooms_in(src, ["mspgsen", "control"]) == {"methods", "control", "engine", "api", VERSION}
    assert "contract" in imported_rooms(ROOT / "control" / "base.py")
