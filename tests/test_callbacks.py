import keras
import numpy as np
from tensorboard.backend.event_processing import event_accumulator
from tensorboard.plugins.hparams import metadata
from tensorboard.util import tensor_util

from tuning.callbacks import HParamsLogger
from tuning.objective import Objective


def test_hparams_logger_records_values_and_best_epoch(tmp_path):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, "sigmoid")])
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    x = np.random.RandomState(0).rand(32, 4)
    y = (x[:, 0] > 0.5).astype("int32")
    hparams = {"units": 8, "loss": "mse"}
    logger = HParamsLogger(
        str(tmp_path), hparams, "Trial A", Objective.named("val_accuracy")
    )
    history = model.fit(
        x, y, epochs=3, validation_data=(x, y), verbose=0, callbacks=[logger]
    )

    events = event_accumulator.EventAccumulator(
        str(tmp_path), size_guidance={event_accumulator.TENSORS: 0}
    )
    events.Reload()
    content = events.PluginTagToContent(metadata.PLUGIN_NAME)
    start = metadata.parse_session_start_info_plugin_data(
        content[metadata.SESSION_START_INFO_TAG]
    )
    assert start.group_name == "Trial A"
    assert start.hparams["units"].number_value == 8
    assert start.hparams["loss"].string_value == "mse"

    val_accuracy = history.history["val_accuracy"]
    best = max(range(3), key=val_accuracy.__getitem__)
    (recorded,) = events.Tensors("best_val_accuracy")
    assert tensor_util.make_ndarray(recorded.tensor_proto) == np.float32(
        val_accuracy[best]
    )
    (epoch,) = events.Tensors("best_epoch")
    assert tensor_util.make_ndarray(epoch.tensor_proto) == best + 1
