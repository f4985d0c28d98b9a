"""Across runs: design factors, paired tests, plots, reports and the regression check."""
