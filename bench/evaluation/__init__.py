"""The downstream protocol: its settings and presets, validation split, standardisation, the grid
trainer, clip-level decisions and per-fold metrics."""
