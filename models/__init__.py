"""Pure JAX math of the notes: activations, the network, losses, the hand-derived backward pass.

Nothing here has side effects: no Hydra, no MLflow, no files, no printing. Params in, arrays out.
"""
