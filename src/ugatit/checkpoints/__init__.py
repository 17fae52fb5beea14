"""Checkpoint files: reading without running code, writing atomically, and what their settings build."""
