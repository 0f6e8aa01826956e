"""STUB (helper B replaces): MDS records built from the dataset."""
from __future__ import annotations

from dataclasses import dataclass

from refcommons.model import Dataset


@dataclass
class MetadataCatalog:
    @classmethod
    def build(cls, dataset: Dataset) -> MetadataCatalog:
        return cls()
