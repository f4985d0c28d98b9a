"""MLflow: mapping run records to MLflow runs, logging them, the local UI."""
