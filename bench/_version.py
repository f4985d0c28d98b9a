"""bench's version: one string, imported by the package root (``bench.__version__``), the
command line (``bench --version``), the runner (results.json ``bench_version``) and the report,
without importing the root package from below it."""

__version__ = "0.1.0"
