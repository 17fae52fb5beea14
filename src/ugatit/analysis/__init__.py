"""Helpers for the notebook and the README figures: finding runs, inspecting networks, plots."""
