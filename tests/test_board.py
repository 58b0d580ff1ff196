"""TensorBoard on a real (small) grid run, checked in headless Chromium."""

import shutil

import pytest

from hypermodels import VARIANTS
from tuning import board
from tuning.board import start_tensorboard

NAMES = [v.name for v in VARIANTS]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def tensorboard_url(grid_run):
    _, run_dir = grid_run
    return start_tensorboard(run_dir / "tensorboard", port=0)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_FLAGS
        )
        yield chromium
        chromium.close()


@pytest.mark.slow
def test_scalars_view_lists_every_variant_as_a_run(browser, tensorboard_url, tmp_path):
    page = browser.new_page(viewport={"width": 1400, "height": 3000})
    page.goto(tensorboard_url + "#timeseries")
    page.wait_for_selector("text=L2 Regularization/validation", timeout=60_000)
    page.screenshot(path=str(tmp_path / "tensorboard_scalars.png"))
    text = page.inner_text("body")
    for name in NAMES:
        assert f"{name}/train" in text and f"{name}/validation" in text
    assert "epoch_accuracy" in text and "epoch_loss" in text


@pytest.mark.slow
def test_hparams_view_lists_the_nine_trials(browser, tensorboard_url, tmp_path):
    page = browser.new_page(viewport={"width": 1600, "height": 1200})
    page.goto(tensorboard_url + "#hparams")
    page.wait_for_selector("text=Trial ID", timeout=60_000)
    page.wait_for_selector("text=Tanh Activation", timeout=60_000)
    screenshot = tmp_path / "tensorboard_hparams.png"  # not in the shared run
    page.screenshot(path=str(screenshot))
    assert screenshot.stat().st_size > 10_000
    # The table lives in shadow DOM, which Playwright's locators pierce.
    table = page.locator("tf-hparams-table-view")
    for name in NAMES:
        assert table.get_by_text(name, exact=True).count() == 1, name
    # Every hyperparameter is listed (TensorBoard hides some table columns).
    for hparam in ("hidden_layers", "units", "activation", "loss", "dropout", "l2"):
        assert page.get_by_text(hparam, exact=True).count() >= 1, hparam


@pytest.mark.slow
def test_the_report_and_its_figures_are_in_text_and_images(
    browser, tensorboard_url, tmp_path
):
    page = browser.new_page(viewport={"width": 1400, "height": 2000})
    page.goto(tensorboard_url + "#text")
    page.wait_for_selector("text=Study report: grid", timeout=60_000)
    assert page.get_by_text("Comparisons (val_accuracy, each run's best)").count()
    page.goto(tensorboard_url + "#images")
    page.wait_for_selector("text=figures/comparison", timeout=60_000)
    page.screenshot(path=str(tmp_path / "tensorboard_images.png"))
    for figure in ("val_accuracy", "val_loss", "overfitting_accuracy"):
        assert page.get_by_text(f"figures/{figure}").count() >= 1, figure


def test_board_without_logs_is_one_line_status_2(tmp_path, capsys):
    assert board.main([str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "No TensorBoard logs" in err[0]


@pytest.mark.slow
def test_a_port_in_use_is_one_line_status_2(grid_run, capsys):
    import socket

    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        status = board.main([str(grid_run[1]), "--port", str(port)])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1, err
    assert f"127.0.0.1:{port}" in err[0] and "--port" in err[0]
