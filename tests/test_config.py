"""Configuration: presets, overrides, validation messages that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ecl.config import (PRESET_DIR, Config, ConfigError, config_from_dict, config_to_dict, load_config,
                        parse_override)

PRESETS = ["digits_lt", "mnist_lt", "cifar10_lt_r32", "cifar100_lt_r32", "cifar100_lt_r34_224",
           "imagenet_lt_x50", "imagenet_lt_x50_bcl", "isic2019_r50"]


@pytest.mark.parametrize("name", PRESETS)
def test_every_preset_loads_and_validates(name: str) -> None:
    config = load_config(name)
    assert isinstance(config, Config)


def test_dataclass_defaults_equal_the_default_preset() -> None:
    """`ecl train` with no argument runs configs/digits_lt.yaml: the defaults must be that file
    (the preset names its recipe; the default's null recipe resolves to the same one in the digits' data plan)."""
    from ecl.data import build_datasets
    from ecl.data.plan import resolve_data_plan

    preset = config_to_dict(load_config("digits_lt"))
    config = load_config(None)
    plan = resolve_data_plan(config, build_datasets(config.data))
    default = config_to_dict(config)
    assert preset["data"].pop("recipe") == plan.recipe == "small" and default["data"].pop("recipe") is None
    assert plan.flip is False and preset["data"].pop("flip") is None and default["data"].pop("flip") is None
    assert plan.erasing is False and preset["data"].pop("erasing") is None  # small: none
    assert default["data"].pop("erasing") is None
    default["loss"] = config_to_dict(load_config(None))["loss"]  # nulls on both sides
    assert preset == default


def test_bcl_protocol_presets() -> None:
    for name in ("cifar10_lt_r32", "cifar100_lt_r32"):
        config = load_config(name)
        assert (config.model.backbone, config.train.batch_size, config.train.epochs) == ("resnet32", 256, 200)
        assert (config.loss.temperature, config.data.recipe) == (0.1, "bcl")  # BCL's τ, not 0.07
    imagenet = load_config("imagenet_lt_x50")
    assert (imagenet.model.backbone, imagenet.train.epochs, imagenet.train.weight_decay) == (
        "resnext50_32x4d", 180, 1e-4)


def test_overrides_are_typed() -> None:
    config = load_config(None, ["train.epochs=3", "train.lr=1e-3", "data.imbalance_factor=50",
                                "loss.prototype_weight=bcl", "seed=7", "out=runs/x", "data.root=null",
                                "train.compile=true"])
    assert config.train.epochs == 3 and isinstance(config.train.epochs, int)
    assert config.train.lr == pytest.approx(1e-3)
    assert config.data.imbalance_factor == 50.0
    assert config.loss.prototype_weight == "bcl"
    assert config.seed == 7 and config.out == "runs/x" and config.data.root is None
    assert config.train.compile is True


@pytest.mark.parametrize(
    "override, key",
    [
        ("train.batch_size=-4", "train.batch_size"),
        ("train.batch_size=abc", "train.batch_size"),
        ("data.name=nope", "data.name"),
        ("loss.method=magic", "loss.method"),
        ("model.backbone=vit", "model.backbone"),
        ("train.epochs=0", "train.epochs"),
        ("loss.temperature=0", "loss.temperature"),
        ("loss.prototype_weight=1.5", "loss.prototype_weight"),
        ("loss.prototype_weight=half", "loss.prototype_weight"),
        ("loss.anchor_weighting=batch", "loss.anchor_weighting"),
        ("train.precision=fp8", "train.precision"),
        ("train.bogus=1", "train.bogus"),
        ("bogus.key=1", "bogus"),
        ("eval.few_threshold=500", "eval.few_threshold"),
        ("train.compile=maybe", "train.compile"),
    ],
)
def test_bad_values_name_the_key(override: str, key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(None, [override])


def test_override_needs_equals() -> None:
    with pytest.raises(ConfigError, match="section.key=value"):
        parse_override("train.epochs")


def test_unknown_key_in_yaml_names_file_and_key(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  epochs: 2\n  batchsize: 8\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(str(path))
    assert "train.batchsize" in str(info.value) and str(path) in str(info.value)


def test_yaml_python_tag_is_refused_and_runs_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.yaml"
    path.write_text(f"seed: !!python/object/apply:os.system ['touch {marker}']\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not a valid YAML config"):
        load_config(str(path))
    assert not marker.exists()


def test_missing_config_file_lists_presets() -> None:
    with pytest.raises(ConfigError, match="digits_lt"):
        load_config("no_such_preset")


def test_round_trip_through_yaml() -> None:
    config = load_config("cifar100_lt_r32", ["loss.method=bcl"])
    again = config_from_dict(yaml.safe_load(yaml.safe_dump(config_to_dict(config))))
    assert config_to_dict(again) == config_to_dict(config)
    assert PRESET_DIR.is_dir()


def test_presets_live_inside_the_package() -> None:
    """Presets are package data (src/ecl/configs), so a non-editable install finds them."""
    import ecl

    assert PRESET_DIR == Path(ecl.__file__).parent / "configs"
    assert sorted(p.stem for p in PRESET_DIR.glob("*.yaml")) == sorted(PRESETS)


def test_list_presets_names_each_preset_with_its_first_comment_line() -> None:
    from ecl.config import list_presets

    listed = dict(list_presets())
    assert sorted(listed) == sorted(PRESETS)
    for name, line in listed.items():
        first = (PRESET_DIR / f"{name}.yaml").read_text(encoding="utf-8").splitlines()[0]
        assert first.startswith("# ") and line == first[2:].strip() and line


@pytest.mark.slow
def test_the_wheel_ships_every_preset(tmp_path: Path) -> None:
    """`pip wheel .` (a normal, non-editable build) carries ecl/configs/*.yaml."""
    import subprocess
    import sys
    import zipfile

    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                           "-q", "-w", str(tmp_path), str(root)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    (wheel,) = tmp_path.glob("ecl-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {f"ecl/configs/{name}.yaml" for name in PRESETS} <= names


def test_every_key_has_a_line_of_help_and_the_readme_table_is_current() -> None:
    import dataclasses

    from ecl.config import KEY_HELP, all_keys, keys_markdown

    fields = {f"{s}.{f.name}" for s in ("data", "model", "loss", "train", "eval")
              for f in dataclasses.fields(getattr(Config(), s))} | {"seed", "out"}
    assert set(all_keys()) == fields
    assert fields <= set(KEY_HELP), f"keys without help: {sorted(fields - set(KEY_HELP))}"
    assert set(KEY_HELP) <= fields, f"help for keys that do not exist: {sorted(set(KEY_HELP) - fields)}"
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    block = readme.split("<!-- config-keys:begin -->\n", 1)[1].split("\n<!-- config-keys:end -->", 1)[0]
    assert block == keys_markdown(), "README's key table is stale: paste ecl.config.keys_markdown()"
    for key in fields:
        assert f"| `{key}` |" in block


@pytest.mark.parametrize("typed, meant", [("train.epoch", "train.epochs"), ("epochs", "train.epochs"),
                                          ("--epochs", "train.epochs"), ("data.imagesize", "data.image_size"),
                                          ("train.image_size", "data.image_size"),
                                          ("batch-size", "train.batch_size")])
def test_unknown_keys_get_a_did_you_mean(typed: str, meant: str) -> None:
    from ecl.config import suggest_key

    assert suggest_key(typed) == meant
    if not typed.startswith("-"):
        with pytest.raises(ConfigError, match=f"did you mean {meant}\\?"):
            load_config(None, [f"{typed}=3"])


def test_no_suggestion_for_nonsense() -> None:
    from ecl.config import suggest_key

    assert suggest_key("zzzqqq") is None
    with pytest.raises(ConfigError) as info:
        load_config(None, ["zzzqqq=1"])
    assert "did you mean" not in str(info.value)
