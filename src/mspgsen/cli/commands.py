"""The train, generate and interpolate verbs."""
from __future__ import annotations

import sys
from pathlib import Path

from ..errors import MspgsenError

#: Seeds are 64-bit (torch.Generator.manual_seed); more images than this in one command is surely a typo.
MAX_SEED = 2**63 - 1
MAX_IMAGES = 1_000_000


def parse_seeds(text: str) -> list[int]:
    """'0-63' -> 0..63; '0,7,3' -> [0, 7, 3]; '1-3,9' -> [1, 2, 3, 9]."""
    out: list[int] = []
    try:
        for part in (p.strip() for p in text.split(",")):
            if "-" in part:
                out.extend(_seed_range(part))
            elif part:
                out.append(int(part))
    except (ValueError, OverflowError, MemoryError):
        raise MspgsenError(f"Seeds '{text}' must look like 0-63 or 0,7,3, with at most {MAX_IMAGES} seeds.") from None
    if not out:
        raise MspgsenError(f"Seeds '{text}' name no seed; use e.g. 0-63 or 0,7,3.")
    big = [s for s in out if s > MAX_SEED]
    if big:
        raise MspgsenError(f"Seed {big[0]} is too large: seeds go from 0 to {MAX_SEED}.")
    if len(out) > MAX_IMAGES:
        raise MspgsenError(f"Seeds '{text}' name {len(out)} images; at most {MAX_IMAGES} per command.")
    return out


def _seed_range(text: str) -> range:
    a, b = text.split("-", 1)
    lo, hi = int(a), int(b)
    if hi - lo + 1 > MAX_IMAGES:
        raise ValueError(text)
    return range(lo, hi + 1)


def make_dir(path: Path, what: str) -> Path:
    """Create an output folder, or say in one sentence why it cannot be (a file in the way, no permission)."""
    try:
        Path(path).mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise MspgsenError(f"{what} '{path}' cannot be created ({e.strerror or e}); give a folder you can write to.") from None
    return Path(path)


def add_train(sub, fmt) -> None:
    p = sub.add_parser("train", help="train (or resume) a run", formatter_class=fmt,
                       description="Train a run folder RUNS_DIR/NAME; the same name resumes it, --new starts over.")
    p.add_argument("--config", default=None, metavar="PRESET|FILE.yaml",
                   help="a preset name (see `mspgsen train --list-presets`) or a YAML file; default: the config stored "
                        "in the run folder RUNS_DIR/NAME when it exists (resume by name alone), else the default preset")
    p.add_argument("--data", default=None, metavar="SOURCE", help="data source (sets data.source)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, e.g. --set optim.lr_g=2e-4 (repeatable)")
    b = p.add_mutually_exclusive_group()
    b.add_argument("--steps", type=int, default=None, help="budget in steps")
    b.add_argument("--kimg", type=float, default=None, help="budget in thousands of real images")
    b.add_argument("--minutes", type=float, default=None, help="budget in minutes of this session")
    p.add_argument("--name", default=None, help="run name; default: the model's name")
    p.add_argument("--runs-dir", default="runs", help="folder that holds the runs")
    p.add_argument("--seed", type=int, default=None, help="random seed (sets seed)")
    p.add_argument("--new", action="store_true", help="start the run over (the old folder is moved aside, not deleted)")
    p.add_argument("--dry-run", action="store_true",
                   help="print the resolved config (data size and channels read from the data) and exit")
    p.add_argument("--list-presets", action="store_true", help="list the presets, one line each, and exit")
    p.set_defaults(func=run_train)


def _train_overrides(args) -> list[str]:
    over = list(args.overrides)
    if args.data:
        over.append(f"data.source={args.data}")
    if args.seed is not None:
        over.append(f"seed={args.seed}")
    budget = {"steps": args.steps, "kimg": args.kimg, "minutes": args.minutes}
    if any(v is not None for v in budget.values()):
        for k, v in budget.items():
            over.append(f"train.{k}={v if v is not None else 0}")
    return over


def run_train(args) -> int:
    from ..config import DEFAULT_PRESET, load_config
    from .train_info import dry_run_text, preset_list, stored_config

    if args.list_presets:
        print(preset_list())
        return 0
    name = args.name or (Path(args.config).stem if args.config else DEFAULT_PRESET)
    stored = None if args.config else stored_config(args.runs_dir, name)
    if stored is not None:
        print(f"run '{name}': using its stored config {stored} (pass --config to name another)", file=sys.stderr)
    cfg = load_config(str(stored) if stored else (args.config or DEFAULT_PRESET), _train_overrides(args))
    if args.dry_run:
        print(dry_run_text(cfg), end="")
        return 0
    from ..api import train

    res = train(cfg, name=name, runs_dir=args.runs_dir, new=args.new)
    if res.signal:
        import signal

        print(f"interrupted by {signal.Signals(res.signal).name} at step {res.step}; checkpoint {res.checkpoint} written, "
              f"the same command resumes the run", file=sys.stderr)
    print(f"run:        {res.run_dir}")
    print(f"step:       {res.step} ({res.kimg:.1f} kimg, stopped by {res.stopped_by})")
    if res.samples:
        print(f"samples:    {res.samples}")
    if res.checkpoint:
        print(f"checkpoint: {res.checkpoint}")
    return res.exit_code  # 130 / 143 when a signal stopped it, so scripts can tell it from a finished run


def add_generate(sub, fmt) -> None:
    p = sub.add_parser("generate", help="sample images from a trained run", formatter_class=fmt,
                       description="Sample from RUN (a run folder, a run name or a checkpoint file); needs nothing else.")
    p.add_argument("run", metavar="RUN")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--n", type=int, default=None, help="number of images (seeds 0..N-1)")
    g.add_argument("--seeds", default=None, help="seeds, e.g. 0-63 or 0,7,3 (one image per seed)")
    p.add_argument("--labels", default=None, help="class labels for a conditional model, e.g. 0-9 (cycled); default: 0,1,2,...")
    p.add_argument("--grid", action="store_true", help="write one grid PNG instead of one PNG per image")
    p.add_argument("--out", default=None, help="output folder (or .png file with --grid); default: RUN/generated")
    p.add_argument("--runs-dir", default="runs", help="where run names are looked up")
    p.add_argument("--no-ema", action="store_true", help="use the raw G weights instead of their EMA")
    p.add_argument("--trunc", type=float, default=None, metavar="PSI",
                   help="truncation: draw z from a normal truncated to [-PSI, PSI] (e.g. 0.7; smaller is more typical, "
                        "less varied); default: off")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.set_defaults(func=run_generate)


def _labels(handle, spec: str | None, n: int, offset: int = 0):
    from ..sampling import label_tensor

    if spec and not handle.num_classes:
        raise MspgsenError("--labels was given but this model is unconditional.")
    return label_tensor(handle, parse_seeds(spec) if spec else None, n, offset)


def run_generate(args) -> int:
    import torch

    from ..api import load_generator
    from ..engine.run import find_checkpoint
    from ..utils.images import save_grid

    if args.n is not None and not 1 <= args.n <= MAX_IMAGES:
        raise MspgsenError(f"--n must be between 1 and {MAX_IMAGES}, got {args.n}.")
    from ..sampling import check_trunc

    seeds = parse_seeds(args.seeds) if args.seeds else list(range(args.n or 64))
    check_trunc(args.trunc)
    handle = load_generator(args.run, runs_dir=args.runs_dir, device=args.device, ema=not args.no_ema)
    run_dir = find_checkpoint(args.run, args.runs_dir).parent.parent
    imgs = []
    with torch.no_grad():
        for i in range(0, len(seeds), 64):
            part = seeds[i : i + 64]
            imgs.append(handle(handle.z_from_seeds(part, args.trunc), _labels(handle, args.labels, len(part), i)).cpu())
    images = torch.cat(imgs)
    if args.grid:
        out = Path(args.out) if args.out else run_dir / "generated" / f"grid-step{handle.step}.png"
        if out.suffix.lower() != ".png":
            out = out / f"grid-step{handle.step}.png"
        make_dir(out.parent, "--out folder")
        save_grid(images, out)
        print(out)
    else:
        folder = make_dir(Path(args.out) if args.out else run_dir / "generated" / f"step{handle.step}", "--out folder")
        for s, im in zip(seeds, images):
            save_grid(im[None], folder / f"seed{s:05d}.png", padding=0)
        print(f"{len(seeds)} images in {folder}")
    return 0


def add_interpolate(sub, fmt) -> None:
    p = sub.add_parser("interpolate", help="a latent walk through seeds, as a GIF or a PNG strip", formatter_class=fmt,
                       description="Walk the latent space through the given seeds (spherical interpolation).")
    p.add_argument("run", metavar="RUN")
    p.add_argument("--seeds", required=True, help="the seeds to walk through, e.g. 0,7,3")
    p.add_argument("--frames", type=int, default=30, help="frames between two consecutive seeds")
    p.add_argument("--out", required=True, help="walk.gif (animation) or walk.png (strip)")
    p.add_argument("--label", type=int, default=None, help="class label for a conditional model")
    p.add_argument("--trunc", type=float, default=None, metavar="PSI",
                   help="truncation psi for the seeds' latents (as in generate); default: off")
    p.add_argument("--runs-dir", default="runs", help="where run names are looked up")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.set_defaults(func=run_interpolate)


def slerp(a, b, t: float):
    """Spherical interpolation between latents (Gaussian latents keep their norm on the way)."""
    import torch

    an, bn = a / a.norm(), b / b.norm()
    omega = torch.arccos((an * bn).sum().clamp(-1 + 1e-7, 1 - 1e-7))
    so = torch.sin(omega)
    if so.abs() < 1e-6:
        return torch.lerp(a, b, t)
    return (torch.sin((1 - t) * omega) / so) * a + (torch.sin(t * omega) / so) * b


def run_interpolate(args) -> int:
    import torch

    from ..api import load_generator
    from ..utils.images import save_gif, save_strip

    seeds = parse_seeds(args.seeds)
    if len(seeds) < 2:
        raise MspgsenError("--seeds needs at least two seeds to walk between, e.g. 0,7,3.")
    if args.frames < 2:
        raise MspgsenError("--frames must be at least 2.")
    out = Path(args.out)
    if out.suffix.lower() not in (".gif", ".png"):
        raise MspgsenError(f"--out '{out}' must end in .gif (animation) or .png (strip).")
    from ..sampling import check_trunc

    check_trunc(args.trunc)
    handle = load_generator(args.run, runs_dir=args.runs_dir, device=args.device)
    zs = handle.z_from_seeds(seeds, args.trunc)
    path = []
    for a, b in zip(zs[:-1], zs[1:]):
        path += [slerp(a, b, i / (args.frames - 1)) for i in range(args.frames - 1)]
    path.append(zs[-1])
    z = torch.stack(path)
    y = None
    if handle.num_classes:
        y = torch.full((len(z),), args.label or 0, dtype=torch.long, device=handle.device)
    with torch.no_grad():
        frames = torch.cat([handle(z[i : i + 64], None if y is None else y[i : i + 64]).cpu() for i in range(0, len(z), 64)])
    make_dir(out.parent, "--out folder")
    if out.suffix.lower() == ".gif":
        save_gif(list(frames), out)
    else:
        save_strip(frames, out)
    print(out)
    return 0
