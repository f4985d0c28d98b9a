"""bench: the evaluation harness of Cramer et al. (ICASSP 2019) for deep audio embeddings.

Importing this package is cheap: heavy libraries (torch, mlflow, matplotlib) load only in the
modules that need them, so ``bench --help`` stays fast.
"""

__version__ = "0.1.0"
