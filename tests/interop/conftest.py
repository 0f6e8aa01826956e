"""tests/interop is a runnable program (``make interop``, ``python tests/interop/run.py``), not a pytest suite:
its modules need the client venvs of ``.venv-interop`` and live servers, so pytest collects nothing here."""

collect_ignore_glob = ["*.py"]
