"""The MLflow dashboard, in a real (headless) Chromium: a sweep's parent, children and plots.

Needs Debian's chromium and chromium-driver (.ci/run installs them) and selenium; no
browser is downloaded. The screenshot of the experiment page goes to the test's tmp_path
(and to $DASHBOARD_SCREENSHOT when set, which is how docs/dashboard.png was made).
"""

from __future__ import annotations

import os
import re
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
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1600,1000",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def wait_for_text(driver, *texts: str, timeout: float = 60) -> str:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout).until(lambda d: all(t in d.find_element(By.TAG_NAME, "body").text for t in texts))
    return driver.find_element(By.TAG_NAME, "body").text


def body(driver) -> str:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.TAG_NAME, "body").text


def test_the_dashboard_opens_on_a_sweeps_runs_ready_to_compare(tmp_path, browser):
    result = run_cli(
        tmp_path,
        "+experiment=relu_sweep",
        "train.steps=200",
        "train.log_every=50",
        "model.hidden=5,50",
        "optim.lr=0.5,1.2",
    )
    assert result.returncode == 0, result.stderr
    table = runs(tmp_path, "relu_sweep")
    parent = table[table["tags.mlflow.parentRunId"].isna()].iloc[0]
    children = table[table["tags.mlflow.parentRunId"].notna()]
    objective = "val_accuracy_last5_mean"  # the statistic the summary ranks by (pipeline/summary.py)
    ranked = children.sort_values(f"metrics.{objective}", ascending=False, kind="stable")
    assert parent["tags.best_run_id"] == ranked.iloc[0]["run_id"]
    child = children.iloc[0]
    note = parent["tags.mlflow.note.content"]
    link = re.search(r"\((#/experiments/[^)]*viewStateShareKey=[^)]*)\)", note).group(1)
    assert "workflowType=machine_learning" in link

    with mlflow_server(f"sqlite:///{tmp_path}/mlflow.db", tmp_path) as url:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait

        # The experiments: MLflow's own Default (plain runs) and the sweep's; no second "default".
        browser.get(f"{url}/#/experiments")
        listed = [
            e.text
            for e in WebDriverWait(browser, 60).until(
                lambda d: d.find_elements(By.CSS_SELECTOR, "[data-testid='experiment-list-item-link']")
            )
        ]
        assert sorted(listed) == ["Default", "relu_sweep"], listed

        # The parent's description links the sweep's table in the model-training view (MLflow
        # 3.17 shows GenAI's overview until a user switches; the link says which): the parent and
        # its children, the swept params and the ranking statistic as columns, best first.
        browser.get(f"{url}/{link}")
        page = wait_for_text(browser, "Model registry", "matching runs", *children["tags.mlflow.runName"])
        assert "Detect Issues" not in page and "Observability" not in page  # not the GenAI overview
        assert f"{len(table)} matching runs" in page  # the parent and its children
        assert parent["tags.mlflow.runName"][:20] in page
        headers = " ".join(h.text for h in browser.find_elements(By.XPATH, "//*[@role='columnheader']"))
        for column in ("model.hidden", "optim.lr", objective, "val_accuracy"):
            assert column in headers, headers
        shown = [page.index(name) for name in ranked["tags.mlflow.runName"]]
        assert shown == sorted(shown), "the children are not listed best first by " + objective
        browser.save_screenshot(str(tmp_path / "dashboard.png"))
        if os.environ.get("DASHBOARD_SCREENSHOT"):
            shutil.copy(tmp_path / "dashboard.png", os.environ["DASHBOARD_SCREENSHOT"])

        # Compare (the children selected): its parallel-coordinates plot starts on the statistic,
        # each run's first metric.
        ids = ",".join(f'"{run_id}"' for run_id in ranked["run_id"])
        browser.get(f'{url}/#/compare-runs?runs=[{ids}]&experiments=["{parent["experiment_id"]}"]')
        WebDriverWait(browser, 60).until(lambda d: "Parallel Coordinates Plot" in body(d) and "Metrics:" in body(d))
        metrics_box = body(browser).split("Metrics:")[1].split("Clear All")[0]
        assert objective in metrics_box and "loss" not in metrics_box, metrics_box

        experiment = f"{url}/#/experiments/{parent['experiment_id']}"
        browser.get(f"{experiment}/runs/{child['run_id']}/artifacts?workflowType=machine_learning")
        wait_for_text(browser, "decision_boundary.png", "params.npz", "resolved_config.yaml")
        browser.find_element(By.XPATH, "//*[text()='decision_boundary.png']").click()

        # The preview is the PNG itself (500 px wide; the UI loads it as a blob), not an icon.
        WebDriverWait(browser, 60).until(
            lambda d: any((img.get_property("naturalWidth") or 0) >= 400 for img in d.find_elements(By.TAG_NAME, "img"))
        )
        browser.save_screenshot(str(tmp_path / "run_artifacts.png"))
        if os.environ.get("DASHBOARD_SCREENSHOT"):
            shutil.copy(
                tmp_path / "run_artifacts.png",
                os.environ["DASHBOARD_SCREENSHOT"].replace("dashboard", "dashboard_artifact"),
            )
    assert (tmp_path / "dashboard.png").stat().st_size > 10_000
