"""The generic training loop: ``method.step`` -> stats -> controllers -> logs, samples, checkpoints.

It knows no particular GAN. Everything that changes during training (networks, optimizers, EMA, knobs,
controllers, random generators, the data order) is in the checkpoint, so a resumed run continues exactly.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from ..config import Config, dump_config
from ..contract import QUALITY, ControlContext, Knobs
from ..control.base import bound_lr_ratio, build_controllers
from ..data import DataStream, ImageArray, make_sampler
from ..data.prepare import prepare_training_data
from ..errors import CheckpointError, ConfigError, Interrupted, TrainingDiverged
from ..models.base import DataSpec
from ..shard import set_shard
from . import distributed as ddp
from .accel import apply_accel, check_accel
from .build import build_method, data_spec, resolve_device
from .checkpoint import check_same_model, latest_checkpoint, load_newest_readable, require, save_checkpoint
from .health import LOSS_LIMIT, WEIGHT_LIMIT, bad_loss, bad_tensor
from .ema import ema_beta, make_ema, update_ema
from .logger import StatsLogger, WindowMean, truncate_jsonl
from .quality import QualityProbe
from .rng import rng_state, seed_everything, set_rng_state


#: What to do after a divergence: the same settings would diverge again at the same step (training is
#: deterministic), and a resume refuses changed learning rates, so the way on is a new run.
_RETRY = ("Lower the learning rates (optim.lr_g / optim.lr_d) or add a penalty and start the run over with --new "
          "(the old folder is moved aside).")
from .progress import TrainingBar
from .status import write_status
from .summary import training_summary


@dataclass
class RunResult:
    run_dir: Path
    step: int
    kimg: float
    checkpoint: Optional[Path]
    samples: Optional[Path]
    stopped_by: str  # 'steps', 'kimg', 'minutes', 'interrupted' or 'done-already'
    signal: int = 0  # the signal that interrupted the run (SIGINT, SIGTERM), 0 when it was not interrupted

    @property
    def exit_code(self) -> int:
        """What the CLI exits with: 0 for a finished run, 128 + the signal for an interrupted one (130, 143)."""
        return 128 + self.signal if self.signal else 0


#: Why a loop stops, in rising precedence (ranks agree on the largest).
STOPS = (None, "steps", "kimg", "minutes", "interrupted")


class StopRequest:
    """Turns the first Ctrl-C (SIGINT) or SIGTERM into a request to stop at the end of the current step.

    The loop then writes a checkpoint of a consistent state and returns, so the same command resumes exactly.
    A second Ctrl-C interrupts at once (the last periodic checkpoint, if any, is still there).
    """

    def __init__(self) -> None:
        self.requested = False
        self.signum = 0
        self._old: dict = {}

    def _handle(self, signum, frame) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True
        self.signum = signum

    def __enter__(self) -> "StopRequest":
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


class Trainer:
    """Trains one run folder. Construct, then :meth:`run`; resumes from the folder's latest checkpoint."""

    def __init__(self, cfg: Config, run_dir: Path, *, rank: int = 0, world_size: int = 1, log=print) -> None:
        self.cfg, self.run_dir = cfg, Path(run_dir)
        t = cfg.train
        if t.threads:
            torch.set_num_threads(t.threads)
        self.device = resolve_device(t.device)
        if world_size > 1:  # under torchrun: join the process group (api.train has done so already)
            rank, world_size, self.device = ddp.init_distributed(self.device)
        self.rank, self.world_size, self.is_main = rank, world_size, rank == 0
        self.log = log if self.is_main else (lambda *a, **k: None)
        check_accel(cfg, self.device, world_size)
        local_batch = ddp.local_batch(t.batch_size, world_size)
        set_shard(rank, world_size)
        seed_everything(cfg.seed)  # the same on every rank: batch draws are sliced from one global draw

        self.data: ImageArray = prepare_training_data(cfg.data)
        if self.data.skipped:
            self.log(f"note: {self.data.skipped_message()}")
        if len(self.data) < t.batch_size:
            self.log(f"note: the data has {len(self.data)} item(s), fewer than one batch of {t.batch_size}; "
                     f"every batch repeats them (several passes over the data per step).")
        self.spec: DataSpec = data_spec(cfg, self.data)
        self.method = build_method(cfg, self.spec, self.device)
        apply_accel(self.method, cfg)
        ddp.prepare_method(self.method, cfg.method.name, world_size)
        self.G_ema = make_ema(self.method.G) if t.ema_kimg > 0 else None
        self.knobs: Knobs = self.method.initial_knobs()
        self.lr_ratio0 = self.knobs.lr_d / self.knobs.lr_g  # the ratio optim.lr_ratio_max bounds the controllers around
        self.controllers = build_controllers(cfg)
        labels = self.data.labels
        self.stream = DataStream(self.data.images, labels, local_batch,
                                 make_sampler(len(self.data), cfg.seed, rank, world_size), self.device)
        # Controllers draw real batches from their own stream, so they never shift the training data order; it
        # gives every rank the whole global batch, so their probes measure the same thing everywhere.
        self.aux_stream = DataStream(self.data.images, labels, t.batch_size,
                                     make_sampler(len(self.data), cfg.seed + 7919), self.device)
        ctx = ControlContext(self.method, self.aux_stream.next, rank, world_size, self.run_dir)
        for c in self.controllers.values():
            c.setup(ctx, self.knobs)
        # One probe of G's quality for every controller that reads it, at one cadence (quality.every).
        wanted = any(QUALITY in type(c).needs(c.options, cfg).stats for c in self.controllers.values())
        q = cfg.quality
        self.probe = QualityProbe(q.signal, q.n, seed=cfg.seed * 7919 + 101) if wanted else None
        self.step = 0
        self.elapsed_before = 0.0
        self.best: dict = {}  # metric, value and step of the best measurement so far
        self.eval_bucket = 0  # measurements made: one per eval.every_kimg of images
        self.grid_z = torch.randn(t.grid_size, self.method.G.z_dim, generator=torch.Generator().manual_seed(cfg.seed)).to(self.device)
        self.grid_y = None
        if self.spec.num_classes:
            self.grid_y = (torch.arange(t.grid_size) % self.spec.num_classes).to(self.device)
        self.ckpt_dir = self.run_dir / "checkpoints"
        self.samples_dir = self.run_dir / "samples"
        self.logger = StatsLogger(self.run_dir, t.tensorboard, self.is_main)
        self._resume_if_any()
        self.log(training_summary(cfg, self.data, self.method.nets, self.device, world_size))

    # -- state -----------------------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {
            "config": self.cfg.to_plain(),
            "spec": dataclasses.asdict(self.spec),
            "step": self.step,
            "method": self.method.state_dict(),
            "G_ema": self.G_ema.state_dict() if self.G_ema is not None else None,
            "knobs": self.knobs.state_dict(),
            "controllers": {k: c.state_dict() for k, c in self.controllers.items()},
            "stream": self.stream.state_dict(),
            "aux_stream": self.aux_stream.state_dict(),
            "probe": self.probe.state_dict() if self.probe is not None else None,
            "rng": rng_state(),
            "best": dict(self.best),
            "eval_bucket": self.eval_bucket,
            "elapsed_s": self.elapsed_before + (time.time() - self._t0 if hasattr(self, "_t0") else 0.0),
            "data_name": self.data.name,
        }

    def _resume_if_any(self) -> None:
        found = load_newest_readable(self.ckpt_dir, map_location=self.device, log=self.log)
        if found is None:  # a start killed before its first checkpoint leaves lines that this start writes again
            self.logger.truncate_after(0)
            if self.is_main:
                truncate_jsonl(self.run_dir / "metrics.jsonl", 0)
            return
        path, state = found
        require(state, path)
        check_same_model(state, self.cfg.model.name, path)
        missing = set(state["controllers"]) ^ set(self.controllers)
        if missing:
            raise ConfigError(f"Run '{self.run_dir}' was trained with controllers {sorted(state['controllers'])} but the config "
                              f"enables {sorted(self.controllers)}; resume with the run's own config or start it over with --new.")
        try:
            self.method.load_state_dict(state["method"])
            if self.G_ema is not None:
                self.G_ema.load_state_dict(state["G_ema"])
        except (RuntimeError, KeyError) as e:
            raise CheckpointError(f"Checkpoint '{path}' does not fit the configured networks ({str(e).splitlines()[0][:120]}); "
                                  f"resume with the run's own config or start over with --new.") from None
        self.knobs.load_state_dict(state["knobs"])
        for k, c in self.controllers.items():
            c.load_state_dict(state["controllers"][k])
        self.stream.load_state_dict(state["stream"])
        self.aux_stream.load_state_dict(state["aux_stream"])
        if self.probe is not None and state.get("probe") is not None:
            self.probe.load_state_dict(state["probe"])
        set_rng_state(state["rng"])
        self.step = int(state["step"])
        self.best = dict(state.get("best", {}))
        self.eval_bucket = int(state.get("eval_bucket", 0))
        self.elapsed_before = float(state.get("elapsed_s", 0.0))
        self.logger.truncate_after(self.step)
        if self.is_main:
            truncate_jsonl(self.run_dir / "metrics.jsonl", self.step)
        self.log(f"resumed {self.run_dir} from {path.name} (step {self.step}, {self.kimg:.1f} kimg)")

    @property
    def kimg(self) -> float:
        return self.stream.images_seen / 1000.0

    # -- outputs ---------------------------------------------------------------------------------------------
    @torch.no_grad()
    def save_samples(self) -> Optional[Path]:
        if not self.is_main:
            return None
        from ..utils.images import make_grid, save_grid

        G = self.G_ema if self.G_ema is not None else self.method.G
        was_training = G.training
        G.eval()
        imgs = self.method.generate(G, self.grid_z, self.grid_y)
        G.train(was_training)
        self.samples_dir.mkdir(parents=True, exist_ok=True)
        path = self.samples_dir / f"{self.step:06d}.png"
        if not self.spec.is_images:
            from ..utils.plots import save_points

            save_points(imgs[-1].cpu().numpy(), path, reference=self.data.images[:2000])
            if self.logger.wants_images:
                from PIL import Image

                self.logger.image("samples/grid", np.asarray(Image.open(path).convert("RGB")), self.step)
            return path
        save_grid(imgs[-1], path)
        self.logger.image("samples/grid", make_grid(imgs[-1]), self.step)
        if len(imgs) > 1:  # every scale side by side, each upsampled to full size
            full = imgs[-1].shape[-1]
            n = min(8, imgs[-1].shape[0])
            cols = [torch.nn.functional.interpolate(x[:n].float(), size=full, mode="nearest") for x in imgs]
            side = torch.stack(cols, 1).flatten(0, 1)  # row i: scales of image i
            save_grid(side, self.samples_dir / f"{self.step:06d}_scales.png", nrow=len(imgs))
            self.logger.image("samples/scales", make_grid(side, nrow=len(imgs)), self.step)
        return path

    def save(self, best: bool = False) -> Optional[Path]:
        """Write a checkpoint of the current state, after checking it is healthy (:mod:`.health`)."""
        if not self.is_main:
            return None
        state = self.state_dict()
        bad = bad_tensor({"G/D": state["method"]["nets"], "G_ema": state["G_ema"] or {}})
        if bad is not None:
            name, what = bad
            raise TrainingDiverged(f"The run diverged: tensor '{name}' {what} at step {self.step} (the limit is "
                                   f"{WEIGHT_LIMIT:.0e}); it was not saved and {self._kept()}. {_RETRY}")
        return save_checkpoint(state, self.ckpt_dir, self.step, self.cfg.train.keep_last, best=best)

    def _kept(self) -> str:
        last = latest_checkpoint(self.ckpt_dir)
        return f"the last good checkpoint {last} is kept" if last else "no checkpoint had been written yet"

    # -- the loop --------------------------------------------------------------------------------------------
    def _budget_reached(self, t0: float) -> Optional[str]:
        t = self.cfg.train
        if t.steps and self.step >= t.steps:
            return "steps"
        if t.kimg and self.kimg >= t.kimg:
            return "kimg"
        if t.minutes and (time.time() - t0) / 60.0 >= t.minutes:
            return "minutes"
        return None

    def _check_finite(self, stats: dict[str, float]) -> None:
        bad = bad_loss(stats)
        if bad is not None:
            k, v = bad
            what = f"became {v}" if not math.isfinite(v) else f"reached {v:.3g} (the limit is {LOSS_LIMIT:.0e})"
            raise TrainingDiverged(f"Loss '{k}' {what} at step {self.step + 1}; {self._kept()}. {_RETRY}")

    def _maybe_evaluate(self) -> tuple[dict, bool]:
        ev = self.cfg.eval
        if not ev.every_kimg:
            return {}, False
        bucket = int(self.kimg // ev.every_kimg)
        if bucket <= self.eval_bucket:
            return {}, False
        self.eval_bucket = bucket
        from ..metrics.training import measure_during_training

        G = self.G_ema if self.G_ema is not None else self.method.G

        @torch.no_grad()
        def generate(n: int) -> torch.Tensor:
            out = []
            g = torch.Generator().manual_seed(self.cfg.seed + 12345)
            for i in range(0, n, 64):
                m = min(64, n - i)
                z = torch.randn(m, G.z_dim, generator=g).to(self.device)
                y = (torch.arange(i, i + m) % self.spec.num_classes).to(self.device) if self.spec.num_classes else None
                out.append(self.method.generate(G, z, y)[-1].cpu())
            return torch.cat(out)

        was = G.training
        G.eval()
        res = measure_during_training(generate, self.cfg, ev.n)
        G.train(was)
        if ev.metric not in res:
            raise ConfigError(f"eval.metric is '{ev.metric}' but the measurement during training gives "
                              f"{', '.join(sorted(res))}; set eval.metric to one of them.")
        value = res[ev.metric]
        better = value is not None and ("value" not in self.best or value < self.best["value"])
        if better:
            self.best.update({"metric": ev.metric, "value": value, "step": self.step})
        if self.is_main:
            with open(self.run_dir / "metrics.jsonl", "a") as fh:
                fh.write(json.dumps({"step": self.step, "kimg": round(self.kimg, 3), **res}) + "\n")
            self.logger.scalars({f"eval/{k}": v for k, v in res.items()}, self.step)
        return {f"eval/{k}": v for k, v in res.items()}, better

    def run(self) -> RunResult:
        cfg, t = self.cfg, self.cfg.train
        if not (t.steps or t.kimg or t.minutes):
            raise ConfigError("No training budget: set one of --steps, --kimg or --minutes (train.steps / train.kimg / train.minutes).")
        if self.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            tmp = self.run_dir / "config.yaml.tmp"  # atomic: a kill mid-write must not leave a config that refuses resume
            tmp.write_text(dump_config(cfg))
            os.replace(tmp, self.run_dir / "config.yaml")
        self._t0 = t0 = time.time()
        stopped = self._budget_reached(t0)
        if stopped:
            self.log(f"{self.run_dir} already reached its budget ({stopped}) at step {self.step}; raise the budget to train more.")
            last = latest_checkpoint(self.ckpt_dir)
            return RunResult(self.run_dir, self.step, self.kimg, last, None, "done-already")
        self._last_ckpt, self._last_samples, self._stopped_by = None, None, ""
        bar = None
        if t.progress and self.is_main:
            bar = TrainingBar(t, self.step, self.stream.images_seen, t.batch_size, t0)
        if self.is_main:
            write_status(self.run_dir, "running", self.step, self.kimg)
        state, note = "interrupted", ""
        with StopRequest() as stop:
            try:
                self._loop(t0, bar, stop)
                state = "interrupted" if stop.requested else "finished"
            except KeyboardInterrupt:  # the second Ctrl-C: stop at once, say truthfully what is on disk
                state = "interrupted"
                then = ("and the same command resumes from it" if latest_checkpoint(self.ckpt_dir)
                        else "so the same command starts the run again")
                raise Interrupted(f"Interrupted at once by a second Ctrl-C at step {self.step}; {self._kept()}, "
                                  f"{then}.", code=130) from None
            except TrainingDiverged as e:
                state, note = "diverged", str(e)
                raise
            finally:
                if bar is not None:
                    bar.close()
                self.logger.close()
                if self.is_main:
                    write_status(self.run_dir, state, self.step, self.kimg, note)
        if stop.requested:
            self.log(f"stopped on request at step {self.step}; checkpoint written, the same command resumes the run")
        return RunResult(self.run_dir, self.step, self.kimg, self._last_ckpt, self._last_samples, self._stopped_by,
                         stop.signum if stop.requested else 0)

    def _loop(self, t0: float, bar, stop: StopRequest) -> None:
        t = self.cfg.train
        window = WindowMean()
        last_imgs, last_time = self.stream.images_seen, time.time()
        postfix: Optional[str] = None
        while True:
            stats = ddp.mean_stats(self.method.step(self.stream, self.knobs), self.world_size)
            if self.world_size > 1:
                ddp.broadcast_buffers(self.method.nets)
            self._check_finite(stats)
            self.step += 1
            if self.G_ema is not None:
                update_ema(self.G_ema, self.method.G,
                           ema_beta(t.batch_size, self.stream.images_seen, t.ema_kimg, t.ema_rampup))
            if self.probe is not None and self.step % self.cfg.quality.every == 0:
                stats[QUALITY] = self.probe.measure(self.method, self.aux_stream.next)  # one value, every controller
            for name, c in self.controllers.items():
                stats.update({f"{name}/{k}": float(v) for k, v in c.observe(self.step, stats, self.knobs).items()})
            if self.controllers and self.cfg.optim.lr_ratio_max:
                stats["knob/lr_bounded"] = float(bound_lr_ratio(self.knobs, self.lr_ratio0, self.cfg.optim.lr_ratio_max))
            stats.update({"knob/lr_g": self.knobs.lr_g, "knob/lr_d": self.knobs.lr_d, "knob/d_steps": self.knobs.d_steps})
            window.add(stats)
            ev, better = self._maybe_evaluate()
            if ev:
                window.add(ev)
            if self.step % t.log_every == 0:
                now = time.time()
                row = window.pop()
                row["images_per_s"] = (self.stream.images_seen - last_imgs) / max(now - last_time, 1e-9)
                last_imgs, last_time = self.stream.images_seen, now
                self.logger.write(self.step, self.kimg, row)
                postfix = (f"img/s {row['images_per_s']:.0f} D {row.get('loss_d', float('nan')):.3f} "
                           f"G {row.get('loss_g', float('nan')):.3f}")
            if bar is not None:
                bar.advance(self.step, self.stream.images_seen, postfix)
                postfix = None
            stopped = self._budget_reached(t0) or ("interrupted" if stop.requested else None)
            stopped = STOPS[ddp.agree(STOPS.index(stopped), self.world_size)]  # every rank stops at the same step
            if self.step % t.sample_every == 0 or stopped:
                self._last_samples = self.save_samples()
            if self.step % t.ckpt_every == 0 or stopped or better:
                self._last_ckpt = self.save(best=better)
            if stopped:
                self._stopped_by = stopped
                return
