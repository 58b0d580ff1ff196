import pytest

from tuning.objective import OBJECTIVES, Objective


@pytest.mark.parametrize(
    "name, direction",
    [
        ("val_accuracy", "max"),
        ("accuracy", "max"),
        ("val_loss", "min"),
        ("loss", "min"),
    ],
)
def test_losses_are_minimized_and_the_rest_maximized(name, direction):
    assert name in OBJECTIVES
    assert Objective.named(name) == Objective(name, direction)


def test_the_best_value_is_the_first_on_ties_as_the_checkpoint_keeps_it():
    accuracy, loss = Objective.named("val_accuracy"), Objective.named("val_loss")
    values = [0.5, 0.3, 0.7, 0.3, 0.7]
    assert (accuracy.best(values), accuracy.best_index(values)) == (0.7, 2)
    assert (loss.best(values), loss.best_index(values)) == (0.3, 1)


def test_a_gain_is_an_improvement_in_either_direction():
    assert Objective.named("val_accuracy").gain(0.02) == 0.02
    assert Objective.named("val_loss").gain(0.02) == -0.02


def test_keras_tuner_gets_the_same_objective():
    converted = Objective.named("val_loss").to_keras_tuner()
    assert (converted.name, converted.direction) == ("val_loss", "min")
