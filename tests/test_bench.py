"""The suite runner (mspgsen.bench): a 2-variant, 2-seed suite of a few steps of an MLP on the ring8 toy mixture
trains, measures at every mark, skips what is done, resumes an interrupted run exactly, writes the table, JSON and
report, computes mean ± sd right, and refuses bad suite files with one sentence."""
from __future__ import annotations

import json
import statistics

import pytest
import torch
import yaml

from mspgsen.bench import Suite, load_suite, mean_sd, parse_suite, run_suite, summarize, write_results
from mspgsen.bench.runner import RunOutcome, read_log, run_one
from mspgsen.bench.tables import fmt_mean_sd
from mspgsen.cli.main import main
from mspgsen.engine.checkpoint import latest_checkpoint, load_checkpoint
from mspgsen.errors import ConfigError

TOY_CFG = {"model": {"name": "mlp", "g_hidden": 16, "d_hidden": 16}, "data": {"source": "ring8"},
           "method": {"name": "gan", "loss": "ns"}, "optim": {"lr_g": 1e-3, "lr_d": 1e-3},
           "train": {"batch_size": 32, "tensorboard": False, "ema_kimg": 0, "sample_every": 1000, "ckpt_every": 1000,
                     "log_every": 1}}


def toy_suite(runs, **extra) -> dict:
    return {"name": "toy", "variants": [{"name": "plain", "config": TOY_CFG},
                                        {"name": "lr-low", "config": TOY_CFG, "set": ["optim.lr_g=1e-4"]}],
            "seeds": [0, 1], "budget": {"steps": 12}, "marks": [6], "data": "ring8",
            "metrics": ["modes", "osc", "losses", "data_dist", "d_quality"], "n": 200, "ema": False, "report": False,
            "runs_dir": str(runs), **extra}


def weights(run_dir) -> dict:
    return load_checkpoint(latest_checkpoint(run_dir / "checkpoints"))["method"]


def test_suite_trains_measures_every_mark_then_skips(runs):
    suite = parse_suite(toy_suite(runs))
    assert suite.marks == [6.0, 12.0] and [(v.name, s) for v, s in suite.tasks()][:2] == [("plain", 0), ("lr-low", 0)]
    out = run_suite(suite, log=lambda *a, **k: None)
    assert [o.error for o in out] == [None] * 4 and all(o.trained for o in out)
    for o in out:
        assert [(r["mark"], r["step"]) for r in o.rows] == [(6.0, 6), (12.0, 12)]
        assert 0 <= o.rows[-1]["modes"] <= 8 and 0.0 <= o.rows[-1]["hq"] <= 1.0 and o.rows[-1]["data_dist"] > 0
        assert o.rows[-1]["d_quality"] >= 0 and o.rows[-1]["loss_g_osc"] > 0 and o.rows[-1]["loss_d"] > 0
        assert len(read_log(o.run_dir / "bench.jsonl")) == 2
    assert out[0].rows[-1]["data_dist"] != out[1].rows[-1]["data_dist"]  # the variant's override took effect
    paths = write_results(suite, out, runs)  # two marks: curves over the marks, a summary row per (variant, mark)
    table = paths["table"].read_text()
    assert paths["plot"].stat().st_size > 1000 and "| plain   | 6 " in table and "| lr-low  | 12 " in table
    again = run_suite(suite, log=lambda *a, **k: None)
    assert not any(o.trained for o in again)  # everything measured: nothing trained, nothing measured twice
    assert [o.rows for o in again] == [o.rows for o in out]
    assert all(len(read_log(o.run_dir / "bench.jsonl")) == 2 for o in again)


def test_interrupted_run_resumes_exactly(runs, tmp_path):
    suite = parse_suite(toy_suite(runs, seeds=[0], variants=[{"name": "plain", "config": TOY_CFG}]))
    ref = parse_suite(toy_suite(tmp_path / "ref", seeds=[0], variants=[{"name": "plain", "config": TOY_CFG}]))
    whole = run_one(ref, ref.variants[0], 0, log=lambda *a, **k: None)
    short = parse_suite(toy_suite(runs, seeds=[0], variants=[{"name": "plain", "config": TOY_CFG}], budget={"steps": 4}, marks=[4]))
    run_one(short, short.variants[0], 0, log=lambda *a, **k: None)  # "killed" at step 4, before the first mark
    (runs / "plain-s0" / "bench.jsonl").unlink()  # its one row belongs to the shorter suite
    with open(runs / "plain-s0" / "bench.jsonl", "w") as fh:
        fh.write('{"mark": 6.0, "tru')  # and a half-written line, as a kill leaves
    done = run_one(suite, suite.variants[0], 0, log=lambda *a, **k: None)
    assert [r["step"] for r in done.rows] == [6, 12]
    assert sorted(read_log(runs / "plain-s0" / "bench.jsonl")) == [6.0, 12.0]  # the torn line was dropped, not joined
    a, b = weights(runs / "plain-s0"), weights(whole.run_dir)
    for k in a["nets"]:
        assert torch.equal(a["nets"][k], b["nets"][k]), k
    assert done.rows[-1]["modes"] == whole.rows[-1]["modes"] and done.rows[-1]["hq"] == whole.rows[-1]["hq"]


def test_mean_sd_and_table(runs):
    assert mean_sd([1.0, 2.0, 4.0, None, float("nan")]) == {
        "mean": pytest.approx(7 / 3), "sd": pytest.approx(statistics.stdev([1, 2, 4])), "n": 3, "values": [1.0, 2.0, 4.0]}
    assert mean_sd([None]) is None and mean_sd([5])["sd"] == 0.0
    assert fmt_mean_sd(mean_sd([45.25, 47.0])) == "46.1 ± 1.2"  # the sd at the mean's decimals
    assert fmt_mean_sd(mean_sd([0.0123, 0.0125])) == "0.0124 ± 0.0001"
    suite = parse_suite(toy_suite(runs, metrics=["losses"]))
    rows = lambda v, s, x: RunOutcome(v, s, runs / f"{v}-s{s}", rows=[  # noqa: E731
        {"variant": v, "seed": s, "mark": 12.0, "step": 12, "kimg": 0.4, "minutes": 0.1, "loss_d": x, "loss_g": 2 * x}])
    outcomes = [rows("plain", 0, 1.0), rows("plain", 1, 3.0), rows("lr-low", 0, 10.0),
                RunOutcome("lr-low", 1, runs / "lr-low-s1", error="Training diverged at step 3.")]
    summary = summarize(suite, outcomes)
    assert [(s["variant"], s["seeds"]) for s in summary] == [("plain", [0, 1]), ("lr-low", [0])]
    assert summary[0]["metrics"]["loss_g"]["mean"] == 4.0 and summary[0]["metrics"]["loss_g"]["sd"] == pytest.approx(2 ** 1.5)
    paths = write_results(suite, outcomes, runs)
    text = paths["table"].read_text()
    assert "| plain   | 12" in text and "2.00 ± 1.41" in text and "4.00 ± 2.83" in text
    assert "lr-low, seed 1: Training diverged at step 3." in text and "device cpu; 1 thread(s) per run" in text
    data = json.loads(paths["json"].read_text())
    assert data["summary"][0]["metrics"]["loss_d"]["values"] == [1.0, 3.0] and data["runs"][3]["error"]
    assert paths["plot"].stat().st_size > 1000


def test_cli_writes_table_json_report_and_two_jobs(runs, tmp_path, capsys):
    spec = toy_suite(runs, report=True, budget={"steps": 5}, metrics=["modes", "osc"], ledger=str(tmp_path / "l.jsonl"))
    spec.pop("marks")
    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump(spec))
    assert main(["bench", str(path), "--jobs", "2", "--seeds", "0"]) == 0
    out = capsys.readouterr().out
    assert "## Mean ± sd over seeds" in out and "report:" in out
    html = (runs / "report.html").read_text()
    assert "plain-s0" in html and "lr-low-s0" in html
    got = json.loads((runs / "results.json").read_text())
    assert [(r["variant"], r["seed"], len(r["rows"])) for r in got["runs"]] == [("plain", 0, 1), ("lr-low", 0, 1)]
    ledger = [json.loads(line) for line in (tmp_path / "l.jsonl").read_text().splitlines()]
    assert sorted(r["variant"] for r in ledger) == ["lr-low", "plain"]  # both workers' rows, each whole
    assert main(["bench", str(path), "--table-only", "--no-report"]) == 0  # seed 1 not run: listed as not measured
    assert "lr-low, seed 1: 0 of 1 marks" in capsys.readouterr().out


@pytest.mark.parametrize("change, words", [
    ({"seeds": "three"}, "'seeds' must be a count"),
    ({"budget": {"epochs": 3}}, "'budget' must be one of"),
    ({"marks": [20]}, "mark 20 lies beyond the budget"),
    ({"metrics": ["fid"]}, "image metrics (fid) do not apply to the toy mixture ring8"),
    ({"colour": 1}, "unknown key(s) colour"),
    ({"variants": [{"name": "a", "config": TOY_CFG}, {"name": "a", "config": TOY_CFG}]}, "appear more than once"),
    ({"variants": [{"name": "a b", "config": TOY_CFG}]}, "needs a 'name' of letters"),
    ({"variants": [{"name": "a"}]}, "names no preset"),
    ({"run_name": "{variant}"}, "must contain {variant} and {seed}"),
    ({"data": {"source": "ring8", "ref": "holdout"}}, "splits the bundled data"),
    ({"speed_tolerance": -0.1}, "'speed_tolerance' must be a number of at least 0"),
])
def test_bad_suites_are_refused_with_one_sentence(runs, change, words):
    with pytest.raises(ConfigError) as e:
        parse_suite({**toy_suite(runs), **change}, "s.yaml")
    msg = str(e.value)
    assert words in msg and msg.startswith("Suite s.yaml: ") and "\n" not in msg


def test_bad_suite_files_on_the_command_line(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("seeds: [0\n")
    assert main(["bench", str(bad)]) == 2
    assert main(["bench", str(tmp_path / "missing.yaml")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: Suite file '{bad}' is not valid YAML at line 2; fix the syntax there.",
                   f"error: Suite file '{tmp_path / 'missing.yaml'}' does not exist; give the path of a suite YAML "
                   f"(see benchmarks/suites/)."]


def test_repo_suites_are_valid():
    from pathlib import Path

    from mspgsen.config import load_config

    files = sorted((Path(__file__).resolve().parents[1] / "benchmarks" / "suites").glob("*.yaml"))
    assert len(files) >= 4
    for f in files:
        suite = load_suite(f)
        assert isinstance(suite, Suite) and suite.variants
        for v in suite.variants:  # every row's config validates (unknown keys, impossible switches) without training
            from mspgsen.api import _as_config
            from mspgsen.bench.runner import budget_overrides, run_overrides

            budget = budget_overrides(suite, suite.budget, {"step": 0, "images": 0, "elapsed_s": 0.0})
            if v.config is None:
                load_config(v.preset, run_overrides(suite, v, 0) + budget)
            else:
                _as_config(v.config, run_overrides(suite, v, 0) + budget)


def test_budget_to_each_mark_counts_the_whole_run(runs):
    from mspgsen.bench.runner import budget_overrides

    at = {"step": 40, "images": 2500, "elapsed_s": 90.0}
    minutes = parse_suite({**toy_suite(runs), "budget": {"minutes": 2}, "marks": [1, 1.5]})
    assert minutes.marks == [1.0, 1.5, 2.0]
    assert budget_overrides(minutes, 1.5, at) is None  # the training clock is there already
    assert budget_overrides(minutes, 2.0, at) == ["train.minutes=0.5", "train.steps=0", "train.kimg=0"]  # what is left
    kimg = parse_suite({**toy_suite(runs), "budget": {"kimg": 5}, "marks": [2.5]})
    assert budget_overrides(kimg, 2.5, at) is None
    assert budget_overrides(kimg, 5.0, at) == ["train.kimg=5.0", "train.steps=0", "train.minutes=0"]  # a total
    steps = parse_suite(toy_suite(runs))
    assert budget_overrides(steps, 12.0, at) is None and budget_overrides(steps, 50.0, at)[0] == "train.steps=50"


def test_holdout_trains_on_5000_and_measures_on_the_other_1000(runs):
    from mspgsen.bench.measure import reference_for
    from mspgsen.bench.runner import run_overrides
    from mspgsen.config import load_config
    from mspgsen.data.prepare import prepare_training_data

    suite = parse_suite({**toy_suite(runs), "data": "holdout", "metrics": ["fid"], "variants": ["dcgan"]})
    over = run_overrides(suite, suite.variants[0], 1)
    assert "data.limit=5000" in over and "seed=1" in over
    trained = prepare_training_data(load_config("dcgan", over).data)
    ref = reference_for(suite, "fashion-mnist-subset")
    assert len(trained) == 5000 and len(ref) == 1000 and ref.images.shape[1:] == trained.images.shape[1:]
    whole = prepare_training_data(load_config("dcgan").data)
    assert (ref.images == whole.images[5000:]).all() and (trained.images == whole.images[:5000]).all()


def test_cli_subsets_are_checked(runs, tmp_path, capsys):
    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump(toy_suite(runs)))
    assert main(["bench", str(path), "--seeds", "7"]) == 2
    assert main(["bench", str(path), "--variants", "plain,nope"]) == 2
    assert main(["bench", str(path), "--jobs", "0"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "error: --seeds 7: the suite has seeds 0, 1.",
        "error: --variants: no variant 'nope' in the suite; it has plain, lr-low.",
        "error: --jobs must be at least 1, got 0."]


def test_a_mark_added_behind_a_run_is_not_measured_with_later_weights(runs):
    late = parse_suite(toy_suite(runs, seeds=[0], variants=[{"name": "plain", "config": TOY_CFG}], marks=[12]))
    first = run_one(late, late.variants[0], 0, log=lambda *a, **k: None)
    assert [r["mark"] for r in first.rows] == [12.0]
    early = parse_suite(toy_suite(runs, seeds=[0], variants=[{"name": "plain", "config": TOY_CFG}], marks=[6, 12]))
    again = run_one(early, early.variants[0], 0, log=lambda *a, **k: None)
    assert [r["mark"] for r in again.rows] == [12.0] and not again.trained
    assert again.notes and again.notes[0].startswith("mark 6 not measured: the run was already at step 12")
    text = write_results(early, [again], runs)["table"].read_text()
    assert "## Marks not measured" in text and "Not measured yet" not in text


def test_an_interrupted_training_is_not_measured_and_resumes(runs, tmp_path, monkeypatch):
    import signal

    import mspgsen.api
    from mspgsen.errors import Interrupted

    spec = toy_suite(runs, seeds=[0], variants=[{"name": "plain", "config": TOY_CFG}], marks=[])
    spec.pop("marks")
    suite = parse_suite(spec)
    real_train = mspgsen.api.train

    def stopped_early(config, **kw):  # what a Ctrl-C at step 5 gives: a checkpoint there and stopped_by=interrupted
        kw["overrides"] = [o for o in kw["overrides"] if not o.startswith("train.steps=")] + ["train.steps=5"]
        res = real_train(config, **kw)
        res.stopped_by, res.signal = "interrupted", int(signal.SIGINT)
        return res

    monkeypatch.setattr(mspgsen.api, "train", stopped_early)
    with pytest.raises(Interrupted) as e:
        run_suite(suite, log=lambda *a, **k: None)
    assert e.value.code == 130 and "plain-s0 at step 5" in str(e.value)
    assert not (runs / "plain-s0" / "bench.jsonl").exists()  # nothing measured short of the mark
    monkeypatch.setattr(mspgsen.api, "train", real_train)
    done = run_suite(suite, log=lambda *a, **k: None)[0]
    whole = run_one(parse_suite({**spec, "runs_dir": str(tmp_path / "ref")}), suite.variants[0], 0, log=lambda *a, **k: None)
    assert [r["step"] for r in done.rows] == [12] and done.rows[0]["hq"] == whole.rows[0]["hq"]
    a, b = weights(runs / "plain-s0"), weights(whole.run_dir)
    assert all(torch.equal(a["nets"][k], b["nets"][k]) for k in a["nets"])



def test_a_stop_request_at_a_mark_is_not_lost(runs, monkeypatch):
    """SIGTERM arriving as a run reaches its mark (the trainer ends by budget, with the request noted) stops the
    runner there, before measuring and long before training to the next mark; the next call measures that mark."""
    import signal

    import mspgsen.api
    from mspgsen.errors import Interrupted

    spec = toy_suite(runs, seeds=[0], variants=[{"name": "plain", "config": TOY_CFG}])
    suite = parse_suite(spec)
    real_train, calls = mspgsen.api.train, []

    def late_request(config, **kw):  # the budget was reached, and a SIGTERM came in before the trainer returned
        res = real_train(config, **kw)
        calls.append(res.step)
        res.signal = int(signal.SIGTERM)
        return res

    monkeypatch.setattr(mspgsen.api, "train", late_request)
    with pytest.raises(Interrupted) as e:
        run_suite(suite, log=lambda *a, **k: None)
    assert e.value.code == 143 and "at its mark 6" in str(e.value) and calls == [6]
    assert not (runs / "plain-s0" / "bench.jsonl").exists()
    monkeypatch.setattr(mspgsen.api, "train", real_train)
    done = run_suite(suite, log=lambda *a, **k: None)[0]
    assert [r["mark"] for r in done.rows] == [6, 12] and [r["step"] for r in done.rows] == [6, 12]


def test_a_diverged_run_is_not_trained_again_and_keeps_its_marks(runs):
    """A run that diverged would diverge again from its last good checkpoint on every call: the runner reports it
    (with the marks it measured before) and goes on, unless asked to retry."""
    from mspgsen.engine.status import write_status

    spec = toy_suite(runs, seeds=[0], variants=[{"name": "plain", "config": TOY_CFG}], budget={"steps": 6})
    run_suite(parse_suite(spec), log=lambda *a, **k: None)
    write_status(runs / "plain-s0", "diverged", 9, 0.3, "G's loss reached 4.5e14 at step 9.")
    suite = parse_suite({**spec, "budget": {"steps": 12}, "marks": [6]})
    out = run_suite(suite, log=lambda *a, **k: None)[0]
    assert "diverged at step 9 when last trained (G's loss reached 4.5e14 at step 9)" in out.error
    assert [r["mark"] for r in out.rows] == [6] and latest_checkpoint(runs / "plain-s0" / "checkpoints").name.endswith("6.pt")
    out = run_suite(suite, log=lambda *a, **k: None, retry_diverged=True)[0]
    assert out.error is None and [r["mark"] for r in out.rows] == [6, 12]


def test_ledger_carries_measured_rows_to_a_machine_without_the_run_folders(runs, tmp_path):
    """A suite measured in one session goes on in the next although its run folders are gone: the ledger's rows
    count as measured, only the missing mark is trained (from the start) and measured, and the table says where
    each row came from."""
    import shutil

    from mspgsen.bench.ledger import read_ledger

    ledger = tmp_path / "results" / "toy.jsonl"
    one = {"seeds": [0], "variants": [{"name": "plain", "config": TOY_CFG}], "ledger": str(ledger), "marks": [3, 6]}
    first = run_suite(parse_suite(toy_suite(runs, **one, budget={"steps": 6})), log=lambda *a, **k: None)[0]
    rows = read_ledger(ledger)
    assert [(r["mark"], r["step"]) for r in rows] == [(3.0, 3), (6.0, 6)]
    assert len({r["spec"] for r in rows}) == 1 and all(r["machine"] and r["device"] == "cpu" for r in rows)
    shutil.rmtree(runs)  # the next session: a fresh checkout with the ledger, no runs
    suite = parse_suite(toy_suite(runs, **one, budget={"steps": 12}))
    again = run_suite(suite, log=lambda *a, **k: None)[0]
    assert again.trained and [(r["mark"], r["step"]) for r in again.rows] == [(3.0, 3), (6.0, 6), (12.0, 12)]
    assert again.rows[1]["modes"] == first.rows[1]["modes"]  # the ledger's row, not a new measurement
    assert sorted(read_log(runs / "plain-s0" / "bench.jsonl")) == [12.0]  # only the missing mark was measured
    assert [r["mark"] for r in read_ledger(ledger)] == [3.0, 6.0, 12.0]
    shutil.rmtree(runs)
    done = run_suite(suite, log=lambda *a, **k: None)[0]
    assert not done.trained and len(done.rows) == 3 and not (runs / "plain-s0").exists()
    text = write_results(suite, [done], tmp_path / "out")["table"].read_text()
    assert f"- ledger: `{ledger}`" in text and "device cpu, 1 thread(s): 3 rows, " in text
    # a changed specification (an override, or an edited preset) does not reuse the rows, nor does --no-ledger
    changed = parse_suite(toy_suite(runs, **{**one, "set": ["optim.lr_d=5e-4"]}, budget={"steps": 6}))
    assert run_suite(changed, train=False)[0].rows == []
    assert run_suite(parse_suite(toy_suite(runs, **one, budget={"steps": 6})), train=False)[0].rows != []


def test_a_run_trained_again_on_another_kind_of_machine_measures_every_mark_there(runs, tmp_path, monkeypatch):
    """The ledger's rows from another processor do not join a run that trains again from step 0 here: the same
    config and seed computes a different trajectory on another CPU kind, so every mark is measured again on this one
    (and the new rows win); rows from this kind of machine still count, and a run with its checkpoint here keeps
    every row (it resumes, it does not start again)."""
    import shutil

    from mspgsen.bench import runner as runner_mod
    from mspgsen.bench.ledger import ledger_marks, read_ledger

    ledger = tmp_path / "toy.jsonl"
    one = {"seeds": [0], "variants": [{"name": "plain", "config": TOY_CFG}], "ledger": str(ledger), "marks": [3, 6]}
    run_suite(parse_suite(toy_suite(runs, **one, budget={"steps": 6})), log=lambda *a, **k: None)
    first = read_ledger(ledger)
    assert all(r["cpu_isa"] == runner_mod.cpu_isa() and runner_mod.same_numerics(r) for r in first)
    assert runner_mod.numerics({**first[0], "machine": first[0]["machine"].replace("cores visible", "x")}) != \
        runner_mod.numerics(first[0])
    assert runner_mod.same_numerics({k: v for k, v in first[0].items() if k != "cpu_isa"})  # an older row
    here = runner_mod.machine()
    monkeypatch.setattr(runner_mod, "machine", lambda: "Other CPU 9000, 64 cores visible, torch 0.0")
    assert not runner_mod.same_numerics(first[0])
    suite = parse_suite(toy_suite(runs, **one, budget={"steps": 12}))
    said: list[str] = []
    resumed = run_suite(suite, log=lambda *a, **k: said.append(" ".join(map(str, a))))[0]  # checkpoint here: resumes
    assert [r["machine"] for r in resumed.rows] == [here, here, "Other CPU 9000, 64 cores visible, torch 0.0"]
    assert not any("measured again" in line for line in said)
    shutil.rmtree(runs)  # the folder is gone: training starts again from step 0 on the other machine
    suite = parse_suite(toy_suite(runs, **{**one, "marks": [3, 6, 18]}, budget={"steps": 18}))
    again = run_suite(suite, log=lambda *a, **k: said.append(" ".join(map(str, a))))[0]
    assert any("the ledger's rows at 3, 6 steps came from another machine" in line for line in said)
    table = write_results(suite, [again], tmp_path / "out")["table"].read_text()
    assert f"- measured on: Other CPU 9000, 64 cores visible, torch 0.0, {runner_mod.cpu_isa()}; device cpu" in table
    assert [(r["mark"], r["step"]) for r in again.rows] == [(3.0, 3), (6.0, 6), (18.0, 18)]
    assert all(r["machine"].startswith("Other CPU 9000") for r in again.rows)  # one trajectory, all measured here
    assert sorted(read_log(runs / "plain-s0" / "bench.jsonl")) == [3.0, 6.0, 18.0]
    assert len(read_ledger(ledger)) == 2 + 1 + 3  # the first machine's rows are kept in the ledger, the new ones win
    assert all(r["machine"].startswith("Other") for r in ledger_marks(suite, suite.variants[0], 0).values())
    shutil.rmtree(runs)  # on the same kind of machine the ledger's rows count
    said.clear()
    assert not run_suite(suite, log=lambda *a, **k: said.append(" ".join(map(str, a))))[0].trained
    assert "plain-s0: every mark (3, 6, 18 steps) is measured already; nothing to train" in said


def test_ledger_rows_lacking_a_metric_the_suite_asks_for_do_not_count(runs, tmp_path):
    from mspgsen.bench.ledger import append_ledger, ledger_marks, spec_key, variant_spec

    ledger = tmp_path / "l.jsonl"
    suite = parse_suite(toy_suite(runs, seeds=[0], variants=[{"name": "plain", "config": TOY_CFG}], ledger=str(ledger),
                                  metrics=["modes", "osc"], marks=[6]))
    v = suite.variants[0]
    key = spec_key(variant_spec(suite, v, 0))
    append_ledger(ledger, {"variant": "plain", "seed": 0, "mark": 6.0, "spec": key, "modes": 8, "hq": 0.9})
    with open(ledger, "a") as fh:
        fh.write('{"variant": "plain", "seed": 0, "ma')  # a torn line, as a killed writer leaves
    append_ledger(ledger, {"variant": "plain", "seed": 0, "mark": 12.0, "spec": key, "modes": 7, "hq": 0.8,
                           "loss_g_osc": 0.1})
    assert list(ledger_marks(suite, v, 0)) == [12.0]  # mark 6 lacks the oscillation column
    assert list(ledger_marks(suite, v, 1)) == []  # another seed
    assert ledger.read_text().count("\n") == 3  # the torn line kept to itself, the next row whole


def test_ledger_key_is_checked(runs, tmp_path, capsys):
    with pytest.raises(ConfigError, match="'ledger' must be the path of a .jsonl file"):
        parse_suite({**toy_suite(runs), "ledger": "results.csv"}, "s.yaml")
    path = tmp_path / "s" / "toy.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump({**toy_suite(runs), "ledger": "../results/toy.jsonl"}))
    assert load_suite(path).ledger == tmp_path / "results" / "toy.jsonl"  # relative to the suite file
    assert main(["bench", str(path), "--ledger", "x.csv", "--table-only"]) == 2
    assert main(["bench", str(path), "--ledger", "x.jsonl", "--no-ledger", "--table-only"]) == 2
    err = capsys.readouterr().err
    assert "--ledger must name a .jsonl file" in err and "contradict each other" in err


def test_rows_measured_before_the_suite_had_a_ledger_are_added_to_it(runs, tmp_path):
    from mspgsen.bench.ledger import read_ledger

    spec = toy_suite(runs, seeds=[0], variants=[{"name": "plain", "config": TOY_CFG}], budget={"steps": 6})
    run_suite(parse_suite(spec), log=lambda *a, **k: None)
    ledger = tmp_path / "l.jsonl"
    out = run_suite(parse_suite({**spec, "ledger": str(ledger)}), log=lambda *a, **k: None)[0]
    assert not out.trained and [(r["mark"], r["step"]) for r in read_ledger(ledger)] == [(6.0, 6)]
    run_suite(parse_suite({**spec, "ledger": str(ledger)}), train=False)
    assert len(read_ledger(ledger)) == 1  # recorded once
    # a run left from before the suite was edited is not filed under the edited suite's specification
    other = tmp_path / "other.jsonl"
    run_suite(parse_suite({**spec, "ledger": str(other), "set": ["optim.lr_d=5e-4"]}), train=False)
    assert read_ledger(other) == []


def test_a_log_metric_added_later_is_read_from_the_runs_logs(runs, tmp_path):
    """Asking a measured suite for the knobs fills them in from each run's stats.jsonl up to the mark's step (no
    training, no new measurement) and keeps the completed rows in the ledger; a ledger row that cannot be completed
    (its folder gone) does not count."""
    import shutil

    from mspgsen.bench.ledger import read_ledger

    ledger = tmp_path / "l.jsonl"
    spec = toy_suite(runs, seeds=[0], ledger=str(ledger), metrics=["modes", "osc"], marks=[6])
    first = run_suite(parse_suite(spec), log=lambda *a, **k: None)
    assert all("lr_ratio_max" not in r for o in first for r in o.rows)
    suite = parse_suite({**spec, "metrics": ["modes", "osc", "knobs"]})
    again = run_suite(suite, log=lambda *a, **k: None)
    assert not any(o.trained for o in again)
    by = {o.variant: o.rows for o in again}
    assert [r["lr_ratio_max"] for r in by["plain"]] == [1.0, 1.0]  # lr_d = lr_g = 1e-3, no controller
    assert by["lr-low"][0]["lr_ratio_max"] == pytest.approx(10.0)  # lr_d 1e-3 over the variant's lr_g 1e-4
    assert by["lr-low"][0]["lr_ratio_min"] == pytest.approx(10.0)  # no controller: the rates never move
    assert all(r["d_steps_mean"] == 1.0 for o in again for r in o.rows)
    assert [r["modes"] for o in again for r in o.rows] == [r["modes"] for o in first for r in o.rows]  # kept as measured
    filled = [r for r in read_ledger(ledger) if "logs_filled" in r]
    assert len(filled) == 4 and all(r["logs_filled"] == ["lr_ratio_max", "lr_ratio_min", "d_steps_mean"]
                                 for r in filled)
    shutil.rmtree(runs)
    done = run_suite(suite, train=False)  # the completed rows count without the folders
    assert [len(o.rows) for o in done] == [2, 2]
    assert [r["lr_ratio_max"] for r in done[1].rows] == [r["lr_ratio_max"] for r in by["lr-low"]]
    # a suite asking for a log metric its ledger rows lack, with the folders gone: those rows do not count
    osc = parse_suite({**spec, "metrics": ["modes", "osc", "losses"]})
    assert [o.rows for o in run_suite(osc, train=False)] == [[], []]


def test_knobs_follow_the_logged_rates_and_d_steps():
    from mspgsen.bench.measure import log_metrics

    rows = [{"step": 10, "knob/lr_g": 2e-4, "knob/lr_d": 2e-4, "knob/d_steps": 1.0},
            {"step": 20, "knob/lr_g": 1e-4, "knob/lr_d": 8e-4, "knob/d_steps": 3.0},
            {"step": 30, "knob/lr_g": 2e-4, "knob/lr_d": 4e-4, "knob/d_steps": 2.0}]
    got = log_metrics(rows, ["knobs"])
    assert got["lr_ratio_max"] == pytest.approx(8.0) and got["d_steps_mean"] == pytest.approx(2.0)
    assert got["lr_ratio_min"] == pytest.approx(1.0)
    early = log_metrics(rows, ["knobs"], upto=10)
    assert early["lr_ratio_max"] == pytest.approx(1.0) and early["d_steps_mean"] == 1.0
    assert log_metrics([{"step": 10}], ["knobs"]) == {"lr_ratio_max": None, "lr_ratio_min": None, "d_steps_mean": None}


def test_the_plot_takes_a_log_axis_only_when_one_run_dwarfs_the_rest():
    from mspgsen.bench.tables import log_scale_wanted

    assert log_scale_wanted([69.0, 98.0, 133.0, 149.0]) is False  # FID curves of healthy runs: linear reads
    assert log_scale_wanted([64.4, 98.0, 133.0, 535.0]) is True  # one collapsed run would squash the rest
    assert log_scale_wanted([0.0, 0.5, 20.0]) is False  # a zero has no place on a log axis (mode counts, shares)
    assert log_scale_wanted([float("nan"), 1.0, 2.0]) is False and log_scale_wanted([]) is False


def test_the_plot_follows_the_median_over_the_marks_and_shows_each_seed_at_the_budget(runs):
    from matplotlib.collections import PathCollection

    from mspgsen.bench.tables import figure, trajectory

    suite = parse_suite(toy_suite(runs, metrics=["losses"]))
    row = lambda v, s, mark, x: {"variant": v, "seed": s, "mark": mark, "step": int(mark), "loss_d": x}  # noqa: E731
    outcomes = [RunOutcome("plain", 0, runs / "p0", rows=[row("plain", 0, 6.0, 98.0), row("plain", 0, 12.0, 69.0)]),
                RunOutcome("plain", 1, runs / "p1", rows=[row("plain", 1, 6.0, 467.0)]),  # collapsed, stopped early
                RunOutcome("plain", 2, runs / "p2", rows=[row("plain", 2, 6.0, 103.0), row("plain", 2, 12.0, 75.0)]),
                RunOutcome("lr-low", 0, runs / "l0", rows=[row("lr-low", 0, 6.0, 120.0), row("lr-low", 0, 12.0, 80.0)])]
    summary = summarize(suite, outcomes)
    marks, mid, lo, hi = trajectory(summary, "plain", "loss_d")
    assert marks == [6.0, 12.0] and mid == [103.0, 72.0] and lo == [98.0, 69.0] and hi == [467.0, 75.0]
    fig = figure(suite, summary)
    left, right = fig.axes  # the curves over the marks, and the values at the budget
    assert left.get_yscale() == "log" and right.get_ylim() == left.get_ylim()  # one scale: 467 dwarfs the rest
    assert 55.0 < left.get_ylim()[0] < 69.0  # the seeds set the range; 6's mean - sd (about 11) runs off the axis
    assert [t.get_text() for t in right.get_xticklabels()] == ["plain (n=2)", "lr-low (n=1)"]
    dots = [c for c in right.collections if isinstance(c, PathCollection)]  # scatter: each seed at the budget
    assert sorted(float(y) for c in dots for _, y in c.get_offsets()) == [69.0, 75.0, 80.0]
    assert "median" in left.get_title() and "mean ± sd" in right.get_title()
    one = parse_suite(toy_suite(runs, metrics=["losses"], marks=[12]))
    assert len(figure(one, summarize(one, outcomes)).axes) == 1  # one mark: the values at it, one panel
    assert figure(suite, []) is None


def test_the_host_speed_probe_is_a_positive_rate_and_leaves_torch_as_it_was():
    from mspgsen.bench.speed import host_speed, speed_spread

    threads = torch.get_num_threads()
    torch.manual_seed(7)
    expected = torch.rand(1)
    torch.manual_seed(7)
    speed = host_speed(1, seconds=0.2, rounds=2)
    assert speed > 0 and speed == speed and speed != float("inf")
    assert torch.get_num_threads() == threads and torch.equal(torch.rand(1), expected)  # no state moved
    assert speed_spread([500.0, 250.0]) == pytest.approx(1.0) and speed_spread([400.0]) == 0.0
    assert speed_spread([]) == 0.0 and speed_spread([0.0, 3.0]) == 0.0  # no probe is not an infinitely fast one


def test_a_minutes_suite_keeps_the_host_speed_in_each_row_and_says_when_hosts_differ(runs, monkeypatch):
    import mspgsen.bench.speed as speed

    probes = iter([500.0, 240.0])
    monkeypatch.setattr(speed, "host_speed", lambda threads, seconds=9.0, rounds=3, device="cpu": next(probes))
    said = []
    spec = {**toy_suite(runs, seeds=[0]), "budget": {"minutes": 0.005}, "marks": [0.005]}
    first = run_suite(parse_suite({**spec, "variants": spec["variants"][:1]}), log=said.append)
    assert first[0].rows[0]["host_speed"] == 500.0 and any(m.startswith("host speed: 500.0 img/s") for m in said)
    table = write_results(parse_suite(spec), first, runs)["table"].read_text()
    assert "host img/s" in table and "host speed 500 img/s (1 of its rows)" in table
    assert "Hosts of different speed" not in table
    said.clear()
    both = run_suite(parse_suite(spec), log=said.append)  # lr-low on a host half as fast; plain is measured already
    assert [o.rows[0]["host_speed"] for o in both] == [500.0, 240.0] and not both[0].trained
    assert any("had 500.0-500.0 img/s" in m and "not seeds of the same measurement" in m for m in said)
    table = write_results(parse_suite(spec), both, runs)["table"].read_text()
    assert "## Hosts of different speed" in table and "240-500 img/s, 108% apart" in table
    assert next(probes, None) is None  # probed once per call that trains; a finished suite is not probed
    assert run_suite(parse_suite(spec), log=said.append)[1].rows[0]["host_speed"] == 240.0
    steps = run_suite(parse_suite(toy_suite(runs / "steps", seeds=[0])), log=lambda *a: None)
    assert all("host_speed" not in r for o in steps for r in o.rows)  # equal work: no probe, and no column
    assert "host img/s" not in write_results(parse_suite(toy_suite(runs / "steps", seeds=[0])), steps, runs / "s")[
        "table"].read_text()
