"""The MLflow dashboard, in a real (headless) Chromium: a sweep's parent, children and plots.

Needs Debian's chromium and chromium-driver (.ci/run installs them) and selenium; no
browser is downloaded. The screenshot of the experiment page goes to the test's tmp_path
(and to $DASHBOARD_SCREENSHOT when set, which is how docs/dashboard.png was made).
"""

from __future__ import annotations

import os
import shutil

import pytest

from _cli import run_cli, runs
from _servers import mlflow_server

pytestmark = pytest.mark.slow

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")


@pytest.fixture
def browser():
    if not (CHROMIUM and CHROMEDRIVER) and not os.environ.get("CI"):
        pytest.skip("Debian's chromium and chromium-driver are not installed (.ci/run installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    # As root on a closed network: no sandbox, and none of Chromium's own background traffic.
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1600,1000"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def wait_for_text(driver, *texts: str, timeout: float = 60) -> str:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout).until(
        lambda d: all(t in d.find_element(By.TAG_NAME, "body").text for t in texts))
    return driver.find_element(By.TAG_NAME, "body").text


def test_the_dashboard_lists_a_sweep_and_shows_a_childs_plots(tmp_path, browser):
    result = run_cli(tmp_path, "+experiment=relu_sweep", "train.steps=200", "train.log_every=50",
                     "model.hidden=2,4", "optim.lr=1.2")
    assert result.returncode == 0, result.stderr
    table = runs(tmp_path, "relu_sweep")
    parent = table[table["tags.mlflow.parentRunId"].isna()].iloc[0]
    children = table[table["tags.mlflow.parentRunId"].notna()]
    child = children.iloc[0]

    with mlflow_server(f"sqlite:///{tmp_path}/mlflow.db", tmp_path) as url:
        from selenium.webdriver.common.by import By

        # MLflow 3 opens an experiment on its GenAI overview; the runs table is the
        # "Model training" view.
        experiment = f"{url}/#/experiments/{parent['experiment_id']}"
        browser.get(f"{experiment}/runs?workflowType=machine_learning")
        wait_for_text(browser, "matching runs")
        parent_link = browser.find_element(By.PARTIAL_LINK_TEXT, parent["tags.mlflow.runName"][:20])
        # The sweep is one row; its expander (the button in the run-name cell) shows the children.
        parent_link.find_element(By.XPATH, "./ancestor::*[@role='gridcell'][1]").find_element(
            By.TAG_NAME, "button").click()
        page = wait_for_text(browser, *[name[:20] for name in children["tags.mlflow.runName"]])
        assert f"{len(table)} matching runs" in page
        browser.save_screenshot(str(tmp_path / "dashboard.png"))
        if os.environ.get("DASHBOARD_SCREENSHOT"):
            shutil.copy(tmp_path / "dashboard.png", os.environ["DASHBOARD_SCREENSHOT"])

        browser.get(f"{experiment}/runs/{child['run_id']}?workflowType=machine_learning")
        page = wait_for_text(browser, "model.hidden", "val_accuracy")  # its params and metrics
        browser.get(f"{experiment}/runs/{child['run_id']}/artifacts?workflowType=machine_learning")
        wait_for_text(browser, "loss_curve.png", "decision_boundary.png", "resolved_config.yaml")
        browser.save_screenshot(str(tmp_path / "run_artifacts.png"))
    assert (tmp_path / "dashboard.png").stat().st_size > 10_000
