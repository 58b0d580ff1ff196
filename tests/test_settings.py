"""Settings are resolved by one pure function: flags, environment, saved run."""

import argparse
import dataclasses
import json
import re

import pytest

from hypermodels import VARIANTS, WIDE_SPACE
from tuning import modes, search
from tuning.errors import UsageError
from tuning.objective import Objective
from tuning.settings import KERAS_DOWNLOAD, StudySettings, resolve_settings


def flags(*argv: str) -> dict:
    return vars(search.build_parser().parse_args(list(argv)))


def test_every_default_is_filled_in_from_one_place():
    settings = resolve_settings(flags(), environment={}, fresh_seed=7)
    assert settings == StudySettings(
        variants=tuple(v.name for v in VARIANTS), seed=7, reference="Baseline"
    )
    assert settings.objective == Objective("val_accuracy", "max")
    assert settings.data == KERAS_DOWNLOAD


def test_settings_a_mode_does_not_use_are_left_out_and_its_own_filled_in():
    settings = resolve_settings(flags("--mode", "random"), environment={})
    assert (settings.variants, settings.reference) == ((), None)
    assert settings.max_trials == 10 and settings.space == WIDE_SPACE
    settings = resolve_settings(flags("--mode", "hyperband"), environment={})
    assert settings.max_trials is None and settings.space == WIDE_SPACE


def test_the_environment_stands_in_for_data_and_backend(tmp_path):
    environment = {"IMDB_DATA": str(tmp_path / "imdb.npz"), "KERAS_BACKEND": "torch"}
    settings = resolve_settings(flags(), environment=environment)
    assert (settings.data, settings.backend) == (str(tmp_path / "imdb.npz"), "torch")
    given = resolve_settings(
        flags("--data", "x.npz", "--backend", "jax"), environment=environment
    )
    assert given.data.endswith("/x.npz") and given.backend == "jax"


def test_a_resumed_run_keeps_its_seed_unless_one_is_given():
    saved = StudySettings(seed=11)
    assert resolve_settings(flags(), saved, {}, fresh_seed=3).seed == 11
    assert resolve_settings(flags("--seed", "4"), saved, {}, 3).seed == 4
    assert resolve_settings(flags(), None, {}, fresh_seed=3).seed == 3


def test_new_studies_pair_their_runs_by_seed_and_older_ones_keep_their_own():
    assert resolve_settings(flags(), None, {}).common_seeds
    older = json.loads(StudySettings().to_json())
    del older["common_seeds"]  # a study.json written before the setting
    saved = StudySettings.from_json(json.dumps(older), "study.json")
    assert not saved.common_seeds
    assert not resolve_settings(flags(), saved, {}).common_seeds
    assert saved.schedule(8) != StudySettings(max_repeats=12).schedule(8)


def test_the_reference_is_baseline_else_the_first_variant():
    settings = resolve_settings(flags("--variants", "Dropout,MSE Loss"), None, {})
    assert settings.reference == "Dropout"
    with pytest.raises(UsageError, match="'Baseline' is not among --variants"):
        resolve_settings(
            flags("--variants", "Dropout", "--reference", "Baseline"), None, {}
        )


def test_a_mode_added_to_the_table_is_offered_checked_and_built(monkeypatch):
    sobol = modes.Mode(
        "sobol",
        "a quasi-random search",
        frozenset({"max_trials", "space"}),
        modes.MODES["random"].make_oracle,
    )
    monkeypatch.setitem(modes.MODES, "sobol", sobol)
    argv = ["--mode", "sobol", "--max-trials", "4", "--seed", "2"]
    settings = resolve_settings(flags(*argv), environment={})
    assert (settings.mode, settings.max_trials, settings.variants) == ("sobol", 4, ())
    assert modes.make_oracle(settings).max_trials == 4
    with pytest.raises(UsageError, match="--variants does not apply to --mode sobol"):
        resolve_settings(flags("--mode", "sobol", "--variants", "Baseline"), None, {})


def test_a_new_setting_needs_a_field_and_a_flag(monkeypatch):
    """What docs/architecture.md promises: nothing else learns its name."""

    @dataclasses.dataclass(frozen=True)
    class Extended(StudySettings):
        warmup: int = 0

    monkeypatch.setattr("tuning.settings.StudySettings", Extended)
    resolved = resolve_settings({**flags(), "warmup": 3}, environment={})
    assert resolved.warmup == 3
    assert resolve_settings(flags(), environment={}).warmup == 0


def test_saved_settings_round_trip_through_json():
    settings = resolve_settings(
        flags(
            "--objective", "val_loss", "--variants", "Baseline,Dropout", "--seed", "2"
        ),
        environment={},
    )
    text = settings.to_json()
    assert json.loads(text)["objective"] == "val_loss"
    assert StudySettings.from_json(text, "study.json") == settings
    assert settings.differences(dataclasses.replace(settings, epochs=3)) == ["epochs"]


def test_settings_this_version_did_not_write_are_refused():
    with pytest.raises(UsageError, match="not readable study settings"):
        StudySettings.from_json('{"epochs": 3, "colour": "red"}', "study.json")


def test_flags_are_parsed_without_defaults_so_that_settings_can_tell():
    parsed = search.build_parser().parse_args([])
    assert isinstance(parsed, argparse.Namespace)
    assert parsed.epochs is None and parsed.objective is None


@pytest.mark.parametrize(
    "change, reason",
    [
        ({"epochs": "ten"}, "epochs 'ten' is not a int"),
        ({"mode": "bogus"}, "unknown mode 'bogus'"),
        ({"objective": "f1"}, "unknown objective 'f1'"),
        ({"variants": [1]}, "variants [1] is not a"),
        ({"repeats": True}, "repeats True is not a int"),
        ({"space": []}, "space [] is not a"),
    ],
)
def test_saved_settings_of_the_wrong_kind_are_refused(change, reason):
    values = json.loads(resolve_settings(flags(), environment={}).to_json())
    values.update(change)
    with pytest.raises(UsageError, match=re.escape(reason) + ".*--overwrite"):
        StudySettings.from_json(json.dumps(values), "study.json")
