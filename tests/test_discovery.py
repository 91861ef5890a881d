"""Models and datasets are found by discovery: every module of genlab.models / genlab.data, and the
`genlab.models` / `genlab.datasets` entry points of installed packages (faked here, nothing installed)."""

import pkgutil
import textwrap
from importlib.metadata import EntryPoint

import pytest
import torch

import genlab
from genlab import discovery
from genlab.data import registry as data_registry
from genlab.models import registry as model_registry

PLUGIN = textwrap.dedent('''
    """A user's package: one model and one dataset, registered on import."""
    from dataclasses import dataclass

    import torch

    from genlab.data.registry import Dataset, register_dataset
    from genlab.models.base import GenerativeModel
    from genlab.models.registry import register


    @dataclass
    class ConstantConfig:
        level: float = 0.25


    @register("plugin-constant")
    class ConstantModel(GenerativeModel):
        """Every sample is a grey image at `level`."""

        config_class = ConstantConfig

        def __init__(self, config, data_shape, num_classes=0):
            super().__init__(config, data_shape, num_classes)
            self.anchor = torch.nn.Parameter(torch.zeros(()))

        def sample(self, n, labels=None, generator=None):
            return torch.full((n, *self.data_shape), self.config.level)


    @register_dataset("plugin-ones", "a 4x4 dataset of white images")
    def load_ones(config):
        images = torch.full((8, 1, 4, 4), 255, dtype=torch.uint8)
        labels = torch.zeros(8, dtype=torch.long)
        return Dataset(name="plugin-ones", train_x=images, train_y=labels, test_x=images[:4], test_y=labels[:4],
                       class_names=["ones"], source="generated")
''')


@pytest.fixture
def fake_plugin(tmp_path, monkeypatch):
    """A package `user_plugin` on sys.path, announced by both entry point groups; registries restored after."""
    (tmp_path / "user_plugin.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    points = {
        discovery.MODEL_ENTRY_POINTS: [EntryPoint("user", "user_plugin", discovery.MODEL_ENTRY_POINTS)],
        discovery.DATASET_ENTRY_POINTS: [EntryPoint("user", "user_plugin", discovery.DATASET_ENTRY_POINTS),
                                         EntryPoint("broken", "no_such_module_xyz", discovery.DATASET_ENTRY_POINTS)],
    }
    monkeypatch.setattr(discovery, "entry_points", lambda group: points.get(group, []))
    monkeypatch.setattr(model_registry, "_MODELS", dict(model_registry._MODELS))
    monkeypatch.setattr(data_registry, "_DATASETS", dict(data_registry._DATASETS))
    monkeypatch.delitem(__import__("sys").modules, "user_plugin", raising=False)
    discovery.forget()
    yield
    discovery.forget()


def test_every_model_module_is_discovered_without_a_hand_kept_list():
    registered_modules = {cls.__module__ for cls in map(model_registry.get_model_class, genlab.list_models())}
    model_modules = {m.name for m in pkgutil.iter_modules(genlab.models.__path__, prefix="genlab.models.")}
    assert registered_modules <= model_modules
    assert {"genlab.models.vae", "genlab.models.gan", "genlab.models.vq_vae"} <= registered_modules


def test_an_installed_package_registers_a_model_and_a_dataset_through_entry_points(fake_plugin):
    with pytest.warns(UserWarning, match="plugin 'broken'.*skipped"):
        names = [entry.name for entry in genlab.list_datasets()]
    assert "plugin-ones" in names and "mnist-5k" in names
    assert "plugin-constant" in genlab.list_models() and "vae" in genlab.list_models()
    model = genlab.create_model("plugin-constant", data_shape=(1, 4, 4), level=0.75)
    assert torch.equal(model.sample(2), torch.full((2, 1, 4, 4), 0.75))
    data = genlab.load_dataset("plugin-ones")
    assert data.train_x.shape == (8, 1, 4, 4) and int(data.train_x.min()) == 255


def test_the_fake_plugin_leaves_nothing_behind():
    assert "plugin-constant" not in genlab.list_models()
