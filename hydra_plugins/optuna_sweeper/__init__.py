"""`hydra/sweeper=optuna`: Optuna's ask-and-tell, in batches the batched launcher trains as one program."""
