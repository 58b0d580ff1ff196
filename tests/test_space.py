import json

import pytest

from hypermodels.space import WIDE_SPACE, SpaceError, load_space, validate_space


def write(tmp_path, content):
    path = tmp_path / "space.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def test_default_wide_space_is_the_documented_one():
    validate_space(WIDE_SPACE)
    assert WIDE_SPACE["hidden_layers"] == {"min": 1, "max": 4}
    assert WIDE_SPACE["units"]["min"] == 16 and WIDE_SPACE["units"]["max"] == 256
    assert WIDE_SPACE["activation"] == ["relu", "tanh", "gelu", "elu"]
    assert WIDE_SPACE["l2"] == {
        "min": 1e-6,
        "max": 1e-2,
        "sampling": "log",
        "off": True,
    }
    assert WIDE_SPACE["dropout"] == {"min": 0.0, "max": 0.6, "off": True}


def test_a_space_file_replaces_only_its_entries(tmp_path):
    space = load_space(write(tmp_path, {"units": [32, 64], "dropout": {"off": True}}))
    assert space["units"] == [32, 64]
    assert space["dropout"] == {"off": True}
    assert space["loss"] == WIDE_SPACE["loss"]


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "cannot read space file"),
        ([1, 2], "must hold a JSON object"),
        ({"layers": [1]}, r"unknown hyperparameter\(s\) \['layers'\]"),
        ({"activation": ["relu", "swish"]}, "activation: expected a non-empty list"),
        ({"units": {"min": 64, "max": 32}}, "units: expected numbers min <= max"),
        ({"units": {"min": 1.5, "max": 32}}, "units: expected numbers min <= max"),
        ({"l2": {"min": 0, "max": 1, "sampling": "log"}}, "log sampling needs min > 0"),
        ({"dropout": {"min": 0.0, "max": 1.0}}, r"rates must be in \[0, 1\)"),
        ({"units": {"off": True}}, r"unexpected key\(s\) \['off'\]"),
        ({"learning_rate": {"sampling": "log"}}, "give values, or min and max"),
    ],
)
def test_invalid_space_files_name_the_problem(tmp_path, content, message):
    with pytest.raises(SpaceError, match=message):
        load_space(write(tmp_path, content))
