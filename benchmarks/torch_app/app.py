"""Baseline (b): the sweep pipeline as people commonly build it today with PyTorch.

A Hydra app, one job per config (Hydra's basic launcher), eager PyTorch training of the
same shallow network on the same flower data, MLflow's fluent API logging params and a
metric every `log_every` steps. Not a dependency of the project: `pip install torch==2.13.0`.
"""

import hydra
import mlflow
import torch
from omegaconf import DictConfig, OmegaConf

from pipeline.data import load_dataset

ACTIVATIONS = {
    "relu": torch.relu,
    "tanh": torch.tanh,
    "leaky_relu": lambda z: torch.nn.functional.leaky_relu(z, 0.01),
    "sigmoid": torch.sigmoid,
}


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float:
    torch.manual_seed(cfg.seed)
    ds = load_dataset("flower")
    # Examples as rows, the PyTorch way.
    X, Y = torch.tensor(ds.X_train.T, dtype=torch.float32), torch.tensor(ds.Y_train.T, dtype=torch.float32)
    Xv, Yv = torch.tensor(ds.X_val.T, dtype=torch.float32), torch.tensor(ds.Y_val.T, dtype=torch.float32)
    model = torch.nn.Sequential(
        torch.nn.Linear(2, cfg.hidden), _Activation(cfg.activation), torch.nn.Linear(cfg.hidden, 1)
    )
    optimizer = torch.optim.SGD(model.parameters(), lr=cfg.lr)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    mlflow.set_tracking_uri(cfg.tracking_uri)
    mlflow.set_experiment(cfg.experiment)
    with mlflow.start_run():
        mlflow.log_params(OmegaConf.to_container(cfg))
        for step in range(1, cfg.steps + 1):
            optimizer.zero_grad()
            loss = loss_fn(model(X), Y)
            loss.backward()
            optimizer.step()
            if step % cfg.log_every == 0:
                with torch.no_grad():
                    val_accuracy = ((model(Xv) > 0).float() == Yv).float().mean().item()
                mlflow.log_metrics({"loss": loss.item(), "val_accuracy": val_accuracy}, step=step)
    return val_accuracy


class _Activation(torch.nn.Module):
    def __init__(self, name):
        super().__init__()
        self.fn = ACTIVATIONS[name]

    def forward(self, z):
        return self.fn(z)


if __name__ == "__main__":
    main()
