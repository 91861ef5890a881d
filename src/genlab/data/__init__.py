"""Datasets held in memory as uint8 tensors, a registry of loaders, and on-device batching."""

from genlab.data.batches import Batch, Batcher, iterate_batches, to_float
from genlab.data.registry import DataConfig, Dataset, list_datasets, load_dataset, register_dataset

__all__ = [
    "Batch",
    "Batcher",
    "DataConfig",
    "Dataset",
    "iterate_batches",
    "list_datasets",
    "load_dataset",
    "register_dataset",
    "to_float",
]
