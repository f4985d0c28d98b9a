"""bench: the evaluation harness of Cramer et al. (ICASSP 2019) for deep audio embeddings.

Importing this package is cheap: heavy libraries (torch, mlflow, matplotlib) load only in the
modules that need them, so ``bench --help`` stays fast.

Importing it also settles how OpenMP behaves in this process before torch loads its runtime:
idle threads sleep instead of spinning, and the default thread count is the CPUs this process
may use (:mod:`bench.util.cpus`; variables the user set are kept). Import ``bench`` before
``torch`` for this to apply to torch as well.
"""

from bench.util.cpus import configure_openmp as _configure_openmp

__version__ = "0.1.0"

_configure_openmp()
