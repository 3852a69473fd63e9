"""A team's tracking server: `mlflow server` on PostgreSQL, artifacts served by the server.

.ci/run installs and starts Debian's PostgreSQL on loopback and sets
PIPELINE_TEST_POSTGRES_URI; without it (a developer's machine) the test is skipped, in CI
it fails.
"""

from __future__ import annotations

import os
import uuid

import pytest
from mlflow.tracking import MlflowClient

from _cli import run_cli
from _servers import mlflow_server

pytestmark = pytest.mark.slow

POSTGRES = os.environ.get("PIPELINE_TEST_POSTGRES_URI")


@pytest.fixture
def postgres_uri():
    if not POSTGRES:
        if os.environ.get("CI"):
            pytest.fail("CI must provide PostgreSQL: .ci/run sets PIPELINE_TEST_POSTGRES_URI")
        pytest.skip("no PostgreSQL for this test (set PIPELINE_TEST_POSTGRES_URI, as .ci/run does)")
    return POSTGRES


def test_a_sweep_logs_to_a_postgresql_backed_server(tmp_path, postgres_uri):
    experiment = f"server_{uuid.uuid4().hex[:8]}"
    with mlflow_server(postgres_uri, tmp_path, artifacts_destination=tmp_path / "served-artifacts") as url:
        result = run_cli(
            tmp_path,
            "+experiment=relu_sweep",
            f"tracking.uri={url}",
            f"tracking.experiment={experiment}",
            "train.steps=200",
            "train.log_every=50",
            "model.hidden=2,4",
            "optim.lr=1.2",
        )
        assert result.returncode == 0, result.stderr
        client = MlflowClient(tracking_uri=url)
        experiment_id = client.get_experiment_by_name(experiment).experiment_id
        found = client.search_runs([experiment_id])
        parents = [r for r in found if "mlflow.parentRunId" not in r.data.tags]
        children = [r for r in found if r.data.tags.get("mlflow.parentRunId") == parents[0].info.run_id]
        assert len(parents) == 1 and len(children) == 2
        assert {r.info.status for r in found} == {"FINISHED"}
        # The artifacts went through the server (mlflow-artifacts:/...), not to a local path.
        assert children[0].info.artifact_uri.startswith("mlflow-artifacts:")
        names = {a.path for a in client.list_artifacts(children[0].info.run_id)}
        assert {"decision_boundary.png", "params.npz", "resolved_config.yaml"} <= names
        assert any((tmp_path / "served-artifacts").rglob("decision_boundary.png"))
        assert not (tmp_path / "mlflow.db").exists()  # nothing fell back to the local store
