"""STUB (helper A replaces): deterministic synthetic dataset."""
from refcommons.model import Dataset


def generate_dataset(*, prefix: str, seed: int, subjects: int) -> Dataset:
    return Dataset(prefix=prefix, seed=seed, programs=(), projects=(), subjects=(), samples=(), files=())
