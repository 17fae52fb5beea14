"""Using a trained checkpoint: loading it and translating image files."""
