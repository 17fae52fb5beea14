"""Evaluation: FID/KID with the torch-fidelity protocol, Inception weights, the shape metric, metric callbacks."""
