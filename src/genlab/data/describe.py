"""`describe_datasets()`: one row per registered dataset, for `genlab datasets`; never downloads."""

from __future__ import annotations

from typing import Any

from genlab.data.download import downloads_disabled
from genlab.data.paths import DataNotFoundError
from genlab.data.registry import DataConfig, list_datasets, load_dataset
from genlab.errors import GenlabError


def describe_datasets() -> list[dict[str, Any]]:
    """Rows {name, description, shape, classes, train, test, source, error}, loading each dataset.

    A dataset that is not on disk is reported (`error`), not downloaded.
    """
    rows = []
    with downloads_disabled():
        for entry in list_datasets():
            row: dict[str, Any] = {
                "name": entry.name,
                "description": entry.description,
                "shape": None,
                "classes": None,
                "train": None,
                "test": None,
                "source": None,
                "error": None,
            }
            try:
                dataset = load_dataset(DataConfig(name=entry.name))
            except DataNotFoundError as error:
                row["error"] = error.summary
            except GenlabError as error:
                row["error"] = str(error)
            else:
                row.update(
                    shape=dataset.shape,
                    classes=dataset.num_classes,
                    train=dataset.train_x.shape[0],
                    test=dataset.test_x.shape[0],
                    source=dataset.source,
                )
            rows.append(row)
    return rows
