import pytest

from mspgsen.config import dump_config, flatten, load_config, parse_override, preset_names
from mspgsen.errors import ConfigError


def test_presets_resolve_and_state_only_differences():
    assert {"dcgan", "wgan-gp"} <= set(preset_names())
    cfg = load_config("dcgan")
    assert cfg.model.name == "dcgan" and cfg.method.options.loss == "ns"
    assert cfg.optim.betas == (0.5, 0.999) and cfg.optim.lr_g == 2e-4


def test_wgan_gp_follows_its_paper():
    cfg = load_config("wgan-gp")
    o = cfg.method.options
    assert (o.loss, o.gp, o.n_critic) == ("wgan", 10.0, 5)
    assert cfg.optim.lr_g == 1e-4 and cfg.optim.betas == (0.0, 0.9)
    assert cfg.model.options.d_norm == "layer"


def test_override_parses_yaml_values():
    assert parse_override("optim.lr_g=2e-4") == {"optim": {"lr_g": 2e-4}}
    assert parse_override("model.spectral_norm=true") == {"model": {"spectral_norm": True}}
    cfg = load_config("dcgan", ["optim.lr_g=3e-4", "model.ngf=16", "train.steps=7"])
    assert cfg.optim.lr_g == 3e-4 and cfg.model.options.ngf == 16 and cfg.train.steps == 7


@pytest.mark.parametrize("override, words", [
    ("optim.lr_gg=1e-4", ["optim.lr_gg", "lr_g"]),
    ("model.ngff=3", ["model.ngff", "ngf"]),
    ("trian.steps=3", ["trian", "train"]),
    ("model.name=dcgn", ["dcgn", "dcgan"]),
])
def test_unknown_keys_name_the_key_and_suggest(override, words):
    with pytest.raises(ConfigError) as e:
        load_config("dcgan", [override])
    for w in words:
        assert w in str(e.value)


@pytest.mark.parametrize("override, words", [
    ("model.ngf=wide", ["model.ngf", "integer"]),
    ("optim.betas=[0.5]", ["optim.betas", "2 entries"]),
    ("method.loss=nss", ["method.loss", "'ns'"]),
    ("model.spectral_norm=3", ["model.spectral_norm", "true or false"]),
])
def test_wrong_types_are_refused(override, words):
    with pytest.raises(ConfigError) as e:
        load_config("dcgan", [override])
    for w in words:
        assert w in str(e.value)


def test_impossible_combinations_are_refused_before_work():
    with pytest.raises(ConfigError, match="gradient penalty"):
        load_config("wgan-gp", ["model.d_norm=batch"])
    with pytest.raises(ConfigError, match="Lipschitz"):
        load_config("dcgan", ["method.loss=wgan"])
    with pytest.raises(ConfigError, match="power of two"):
        load_config("dcgan", ["data.resolution=48"])


def test_unknown_preset_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="Did you mean 'dcgan'"):
        load_config("dcgam")
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(str(bad))


def test_yaml_file_with_base_and_round_trip(tmp_path):
    f = tmp_path / "mine.yaml"
    f.write_text("base: dcgan\nmodel:\n  ngf: 24\n")
    cfg = load_config(str(f))
    assert cfg.model.options.ngf == 24 and cfg.model.options.ndf == 64
    again = tmp_path / "again.yaml"
    again.write_text(dump_config(cfg))
    assert load_config(str(again)).to_plain() == cfg.to_plain()


def test_switching_the_model_drops_the_presets_options_for_the_old_one():
    cfg = load_config("dcgan", ["model.name=mlp", "data.source=ring8", "model.g_hidden=32"])
    assert cfg.model.name == "mlp" and cfg.model.options.g_hidden == 32
    # the same name keeps the preset's options
    assert load_config("dcgan", ["model.name=dcgan"]).model.options.ngf == 64


def test_a_controller_switch_survives_a_later_option_of_it():
    cfg = load_config("dcgan", ["control.dqn=true", "control.dqn.every=100"])
    assert cfg.control["dqn"].enabled and cfg.control["dqn"].every == 100
    cfg = load_config("dcgan", ["control.dqn.every=100", "control.dqn=false"])
    assert not cfg.control["dqn"].enabled and cfg.control["dqn"].every == 100


def test_flatten_names_every_leaf_by_its_dotted_key():
    nested = {"model": {"name": "dcgan", "options": {"width": 8}}, "method": {"weights": {}}, "seed": 3}
    assert flatten(nested) == {"model.name": "dcgan", "model.options.width": 8, "seed": 3}
    kept = flatten(nested, keep_empty=True)
    assert kept["method.weights"] == {} and kept["model.options.width"] == 8
    flat = flatten(load_config("dcgan").to_plain())
    assert flat["model.name"] == "dcgan" and flat["optim.lr_g"] == 2e-4
    assert not any(isinstance(v, dict) and v for v in flat.values())


def test_the_preset_without_afe_is_the_coarse_attention_preset_with_afe_off_alone():
    with_afe = flatten(load_config("mspgsen-coarse-attention-no-apfl-dqn").to_plain())
    without = flatten(load_config("mspgsen-coarse-attention-no-afe-apfl-dqn").to_plain())
    differ = {k for k in set(with_afe) | set(without) if with_afe.get(k) != without.get(k)}
    assert differ == {"model.afe"} and without["model.afe"] is False
