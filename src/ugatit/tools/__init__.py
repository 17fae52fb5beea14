"""Tools around the models: import of official checkpoints, the training-speed benchmark."""
