"""describe_datasets: a row per dataset, and never a download."""

from genlab.data.describe import describe_datasets
from genlab.data.registry import list_datasets


def test_rows_for_every_dataset_without_downloading(isolated_env, monkeypatch):
    monkeypatch.delenv("GENLAB_OFFLINE")  # downloads allowed in general, yet describe must not try
    monkeypatch.setenv("GENLAB_MNIST_MIRROR", "http://127.0.0.1:9/")
    rows = {row["name"]: row for row in describe_datasets()}
    assert list(rows) == [entry.name for entry in list_datasets()]
    assert rows["mnist"]["error"] == "not found; would download from http://127.0.0.1:9/"
    assert rows["cifar10"]["error"].startswith("not found; would download from https://")
    assert rows["image-folder"]["error"] == "needs a folder: --data-root PATH"
    assert rows["mnist-5k"]["train"] == 4000 and rows["mnist-5k"]["shape"] == (1, 28, 28)
    assert rows["toy2d"]["classes"] == 8 and rows["toy2d"]["error"] is None
    assert not (isolated_env / "cache").exists()
