"""The explorer's operations without the web page: which runs it may open, and checked, bounded requests."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from genlab.app.library import Explorer, RunLibrary, find_runs
from genlab.errors import GenlabError
from genlab.latent import decode, encode
from tests.app.conftest import SLIDERS


def make_run_folder(folder, weights: bool = True):
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text("model: {name: vae}\n")
    if weights:
        (folder / "model.safetensors").write_bytes(b"")
    else:
        (folder / "checkpoints").mkdir()


def test_find_runs_lists_run_folders_under_the_root_only(tmp_path):
    make_run_folder(tmp_path / "a")
    make_run_folder(tmp_path / "study" / "b", weights=False)
    make_run_folder(tmp_path / "one" / "two" / "three" / "too-deep")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "config.yaml").write_text("not a run: no weights\n")
    assert list(find_runs(tmp_path)) == ["a", "study/b"]
    assert list(find_runs(tmp_path / "study" / "b")) == ["b"]  # a run folder is its own library
    with pytest.raises(GenlabError, match="not a folder"):
        find_runs(tmp_path / "missing")


def test_the_library_opens_only_the_runs_it_found(runs_dir):
    library = RunLibrary(runs_dir)
    assert library.names() == ["cvae", "gans/dcgan", "vae2"]
    assert library.run("vae2").model.latent_dim == 2
    for name in ("../vae2", str(runs_dir / "vae2"), "/etc", "", None):
        with pytest.raises(GenlabError, match="unknown run"):
            library.run(name)


@pytest.fixture(scope="module")
def explorer(runs_dir):
    return Explorer(RunLibrary(runs_dir), components=SLIDERS)


def pixels(picture) -> np.ndarray:
    return np.asarray(picture.convert("RGB"))


def assert_shows(picture, image: torch.Tensor) -> None:
    """The displayed picture is `image` (1, 28, 28), upscaled by an integer factor."""
    shown = pixels(picture)[:, :, 0]
    factor = shown.shape[0] // image.shape[-1]
    assert np.array_equal(shown[::factor, ::factor], (image[0] * 255).round().byte().numpy())


def test_sliders_set_the_first_components_of_the_seeds_code(explorer):
    run = explorer.library.run("vae2")
    values = explorer.slider_values("vae2", 7)
    assert len(values) == SLIDERS and values[2:] == [0.0, 0.0]  # a 2-D latent uses two of the sliders
    _, code = explorer.slider_code("vae2", 7, [1.5, -0.25])
    assert torch.equal(code, torch.tensor([1.5, -0.25]))  # N(0, I) prior: slider units are the code's own
    picture, text = explorer.decode_sliders("vae2", 7, None, [1.5, -0.25])
    assert picture.width >= 200
    assert_shows(picture, decode(run.model, code.unsqueeze(0))[0])
    assert json.loads(text) == [1.5, -0.25]
    assert not np.array_equal(pixels(picture), pixels(explorer.decode_sliders("vae2", 7, None, [-1.5, 2.0])[0]))


@pytest.mark.parametrize("request_values, message", [
    (dict(seed=-1), "seed"), (dict(seed=2.5), "seed"), (dict(seed="x"), "seed"),
    (dict(values=[9.0, 0.0]), "slider z0"), (dict(values=[0.0, float("nan")]), "slider z1"),
    (dict(values=[0.0] * (SLIDERS + 1)), "at most"), (dict(label=3), None),
])
def test_bad_slider_requests_get_one_line_errors(explorer, request_values, message):
    arguments = {"seed": 0, "label": None, "values": [0.0, 0.0], **request_values}
    if message is None:  # an unconditional model ignores the class selector's value
        explorer.decode_sliders("vae2", arguments["seed"], arguments["label"], arguments["values"])
        return
    with pytest.raises(GenlabError, match=message):
        explorer.decode_sliders("vae2", arguments["seed"], arguments["label"], arguments["values"])


def test_a_click_on_the_map_decodes_the_code_under_the_pointer(explorer):
    codes_picture, manifold_picture, caption = explorer.map_pictures("vae2", None)
    assert codes_picture.size == manifold_picture.size and "2-D latent space" in caption
    result = explorer.library.latent_map("vae2", None)
    x, y = explorer.map_click("vae2", None, 30, manifold_picture.height - 12)
    assert (x, y) == result.pixel_to_point(30, manifold_picture.height - 12, *manifold_picture.size)
    assert result.extent[0] < x < result.extent[1] and result.extent[2] < y < result.extent[3]
    picture, text = explorer.decode_point("vae2", None, x, y)
    assert_shows(picture, decode(explorer.library.run("vae2").model, torch.tensor([[x, y]]))[0])
    with pytest.raises(GenlabError, match="pixel column"):
        explorer.map_click("vae2", None, manifold_picture.width + 5, 0)
    with pytest.raises(GenlabError, match="map x"):
        explorer.decode_point("vae2", None, 1e6, 0)


def test_interpolation_reconstruction_and_samples(explorer):
    model = explorer.library.run("vae2").model
    strip = explorer.interpolation("vae2", 1, 2, 5, "spherical", None)
    assert strip.width > 5 * 28
    run = explorer.library.run("vae2")
    for position, seed in ((0.0, 1), (1.0, 2)):  # the path runs from seed A's code to seed B's
        assert_shows(explorer.interpolation_at("vae2", 1, 2, position, "spherical", None),
                     decode(model, explorer.base_code(run, seed).unsqueeze(0))[0])
    with pytest.raises(GenlabError, match="steps"):
        explorer.interpolation("vae2", 1, 2, 500, "linear", None)
    with pytest.raises(GenlabError, match="position"):
        explorer.interpolation_at("vae2", 1, 2, 1.5, "linear", None)
    with pytest.raises(GenlabError, match="method"):
        explorer.interpolation("vae2", 1, 2, 4, "cubic", None)

    array, label = explorer.test_image("vae2", 5)
    images, labels, _ = explorer.library.test_split("vae2")
    assert array.shape == (224, 224) and label == int(labels[5])
    assert np.array_equal(array[::8, ::8], images[5, 0].numpy())  # shown upscaled by whole pixels
    seen, reconstruction, text = explorer.reconstruct("vae2", array, None)
    code = encode(model, images[5:6])[0]
    assert json.loads(text) == pytest.approx(code.tolist(), abs=1e-3)
    assert np.array_equal(pixels(seen)[::8, ::8, 0], images[5, 0].numpy())
    rgb_upload = np.repeat(array[:, :, None], 3, axis=2)  # colour uploads are converted to the model's channels
    assert explorer.reconstruct("vae2", rgb_upload, None)[2] == text
    with pytest.raises(GenlabError, match="upload an image"):
        explorer.reconstruct("vae2", None, None)
    with pytest.raises(GenlabError, match="test image index"):
        explorer.test_image("vae2", 10**6)
    assert explorer.samples("vae2", 9, 0, None).width >= 3 * 28
    with pytest.raises(GenlabError, match="number of samples"):
        explorer.samples("vae2", 10**4, 0, None)


def test_a_model_without_an_encoder_skips_the_encoder_features_with_a_message(explorer):
    summary = explorer.summary("gans/dcgan")
    assert summary.latent and not summary.encoder and summary.sliders == SLIDERS
    assert "no encoder" in summary.encoder_note
    codes_picture, manifold_picture, caption = explorer.map_pictures("gans/dcgan", None)
    assert codes_picture is None and manifold_picture.width > 0 and "no encoder" in caption
    with pytest.raises(GenlabError, match="no encoder"):
        explorer.reconstruct("gans/dcgan", np.zeros((28, 28), np.uint8), None)
    with pytest.raises(GenlabError, match="not conditional"):
        explorer.class_grid("gans/dcgan", 4, 0)


def test_conditional_models_decode_the_chosen_class(explorer):
    summary = explorer.summary("cvae")
    assert summary.conditional and summary.class_names == [str(k) for k in range(10)] and summary.sliders == 3
    three, _ = explorer.decode_sliders("cvae", 0, 3, [0.5, 0.5, 0.5])
    seven, _ = explorer.decode_sliders("cvae", 0, 7, [0.5, 0.5, 0.5])
    assert not np.array_equal(pixels(three), pixels(seven))
    with pytest.raises(GenlabError, match="class"):
        explorer.decode_sliders("cvae", 0, 10, [0.0])
    grid = explorer.class_grid("cvae", 4, 0)
    assert grid.height > 10 * 28 * 2  # a row per class
    array, label = explorer.test_image("cvae", 2)
    seen, reconstruction, text = explorer.reconstruct("cvae", array, label)
    images, labels, _ = explorer.library.test_split("cvae")
    code = encode(explorer.library.run("cvae").model, images[2:3], labels[2:3])[0]
    assert label == int(labels[2]) and json.loads(text) == pytest.approx(code.tolist(), abs=1e-3)


def test_a_map_point_becomes_the_sliders_and_the_current_z_is_marked_on_the_map(explorer):
    # 2-D latent: the map is the latent plane; the sliders take the point exactly (to their 0.01 step).
    assert explorer.point_sliders("vae2", None, 0.5, -1.25) == [0.5, -1.25, 0.0, 0.0]
    # 3-D latent, PCA plane: the sliders cover the whole code, so z becomes the clicked code.
    run, _, clicked = explorer.map_point_code("cvae", 2, 0.3, -0.2)
    _, code = explorer.slider_code("cvae", 0, explorer.point_sliders("cvae", 2, 0.3, -0.2)[:3])
    assert torch.allclose(code, clicked, atol=0.006)

    result = explorer.library.latent_map("vae2", None)
    codes, manifold, _ = explorer.map_pictures("vae2", None)
    x, y = result.pixel_to_point(100, 300, *manifold.size)
    marked_codes, marked_manifold = explorer.marked_map("vae2", None, torch.tensor([x, y]))
    column, row = result.point_to_pixel(x, y, *manifold.size)
    for plain, marked in ((codes, marked_codes), (manifold, marked_manifold)):
        changed = np.argwhere((pixels(plain) != pixels(marked)).any(axis=2))  # (row, column) of the cross
        assert len(changed) > 0
        centre = (changed.min(0) + changed.max(0)) / 2
        assert abs(centre[0] - row) <= 1.5 and abs(centre[1] - column) <= 1.5
    # A z off the map is marked at the map's edge, not lost.
    _, edge = explorer.marked_map("vae2", None, torch.tensor([1e3, 0.0]))
    changed = np.argwhere((pixels(manifold) != pixels(edge)).any(axis=2))
    assert changed[:, 1].max() == manifold.width - 1
    # The cross's position is the code's projection on the map's plane: to_points inverts to_codes.
    cvae_map = explorer.library.latent_map("cvae", 2)
    points = torch.tensor([[0.3, -0.2], [-1.0, 2.0]])
    assert torch.allclose(cvae_map.to_points(cvae_map.to_codes(points)), points, atol=1e-5)
