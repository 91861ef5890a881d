"""The latent tools on real models: interpolation paths, traversals, latent maps and class grids."""

from __future__ import annotations

import math

import pytest
import torch
from PIL import Image

import genlab
from genlab.errors import GenlabError
from genlab.latent import (
    class_grid,
    decode,
    encode,
    has_encoder,
    has_latent_space,
    interpolate,
    interpolate_codes,
    interpolate_images,
    latent_map,
    lerp,
    load_test_split,
    slerp,
    traverse,
    traverse_codes,
)
from genlab.models.base import GenerativeModel
from genlab.models.registry import get_model_class, list_models


def tiny(name: str, **overrides):
    config = {**get_model_class(name).tiny_config, **overrides}
    torch.manual_seed(0)
    return genlab.create_model(name, data_shape=(1, 28, 28), num_classes=10, **config).eval()


def generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# --- paths -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["linear", "spherical"])
def test_paths_start_and_end_exactly_on_their_inputs(method):
    start, end = torch.randn(3, 16, generator=generator(1)), torch.randn(3, 16, generator=generator(2))
    path = interpolate_codes(start, end, steps=6, method=method)
    assert path.shape == (3, 6, 16)
    assert torch.equal(path[:, 0], start) and torch.equal(path[:, -1], end)
    single = interpolate_codes(start[0], end[0], steps=5, method=method)
    assert single.shape == (5, 16) and torch.equal(single[0], start[0]) and torch.equal(single[-1], end[0])


def test_spherical_paths_keep_the_norm_where_linear_ones_cut_the_corner():
    start, end = torch.tensor([3.0, 0.0]), torch.tensor([0.0, 3.0])
    positions = torch.linspace(0, 1, 5)
    spherical, linear = slerp(start, end, positions), lerp(start, end, positions)
    assert torch.allclose(spherical.norm(dim=-1), torch.full((5,), 3.0), atol=1e-5)
    assert linear[2].norm() == pytest.approx(3 / math.sqrt(2), rel=1e-5)
    assert torch.allclose(spherical[2], torch.tensor([3 / math.sqrt(2)] * 2), atol=1e-5)
    # Equal directions have no circle to follow: the spherical path is then the straight one.
    parallel = slerp(start, 2 * start, positions)
    assert torch.isfinite(parallel).all() and torch.allclose(parallel, lerp(start, 2 * start, positions))


def test_interpolate_decodes_each_path_from_the_prior_reproducibly(vae2_run):
    model = vae2_run.model
    grid = interpolate(model, pairs=3, steps=5, method="spherical", generator=generator(4))
    assert grid.images.shape == (15, 1, 28, 28) and grid.columns == 5 and grid.rows == 3
    assert grid.codes.shape == (3, 5, 2)
    assert grid.images.min() >= 0 and grid.images.max() <= 1
    assert torch.allclose(grid.images[0], decode(model, grid.codes[0, :1])[0])
    again = interpolate(model, pairs=3, steps=5, method="spherical", generator=generator(4))
    assert torch.equal(grid.images, again.images)
    other = interpolate(model, pairs=3, steps=5, method="spherical", generator=generator(5))
    assert not torch.equal(grid.codes, other.codes)


def test_interpolate_between_given_codes_and_bad_requests(vae2_run):
    model = vae2_run.model
    start, end = torch.tensor([-2.0, 0.0]), torch.tensor([2.0, 1.0])
    grid = interpolate(model, start, end, steps=4)
    assert torch.equal(grid.codes[0, 0], start) and torch.equal(grid.codes[0, -1], end)
    assert torch.allclose(grid.codes[0, 1], torch.tensor([-2 / 3, 1 / 3]))
    with pytest.raises(GenlabError, match="latent_dim"):
        interpolate(model, torch.zeros(3), torch.zeros(3))
    with pytest.raises(GenlabError, match="steps"):
        interpolate(model, steps=1000)
    with pytest.raises(GenlabError, match="method"):
        interpolate(model, method="cubic")
    with pytest.raises(GenlabError, match="both"):
        interpolate(model, start=start)


def test_interpolate_images_goes_through_the_encoder_with_real_images_at_the_ends(vae2_run, tmp_path):
    model = vae2_run.model
    images, labels, _ = load_test_split(vae2_run.config)
    first, second = images[:2], images[2:4]
    grid = interpolate_images(model, first, second, steps=4)
    assert grid.images.shape == (2 * 6, 1, 28, 28) and grid.columns == 6
    rows = grid.images.view(2, 6, 1, 28, 28)
    assert torch.equal(rows[:, 0], first.float() / 255) and torch.equal(rows[:, -1], second.float() / 255)
    assert torch.allclose(grid.codes[:, 0], encode(model, first)) and torch.allclose(grid.codes[:, -1], encode(model, second))
    picture = Image.open(grid.save(tmp_path / "pairs.png"))
    assert picture.width > 6 * 28 and picture.height > 2 * 28
    with pytest.raises(GenlabError, match="encoder"):
        interpolate_images(tiny("dcgan"), first, second)


# --- traversals -----------------------------------------------------------------------------------------
def test_traversal_changes_only_its_component(vae2_run):
    base = torch.tensor([0.7, -1.2, 0.3, 2.0])
    codes = traverse_codes(base, [1, 3], torch.linspace(-3, 3, 7))
    assert codes.shape == (2, 7, 4)
    for row, component in enumerate([1, 3]):
        others = [k for k in range(4) if k != component]
        assert torch.equal(codes[row][:, others], base[others].expand(7, -1))
        assert torch.equal(codes[row][:, component], torch.linspace(-3, 3, 7))

    grid = traverse(vae2_run.model, steps=5, span=2.0, generator=generator(3))
    assert grid.codes.shape == (2, 5, 2) and grid.images.shape == (10, 1, 28, 28)
    assert grid.row_names == ["z0", "z1"]
    assert torch.equal(grid.codes[0, :, 0], torch.linspace(-2, 2, 5))
    assert torch.equal(grid.codes[0, :, 1], grid.codes[0, :1, 1].expand(5))  # the other component stays fixed
    assert torch.equal(grid.codes[1, :, 0], grid.codes[1, :1, 0].expand(5))
    assert not torch.equal(grid.images[0], grid.images[4]), "moving a component must change the decoded image"


def test_traversal_of_chosen_components_around_a_given_code_and_bad_requests():
    model = tiny("vae", latent_dim=6)
    base = torch.arange(6, dtype=torch.float32) / 10
    grid = traverse(model, [4], values=[-1.0, 1.0], base=base)
    assert grid.codes.shape == (1, 2, 6)
    assert torch.equal(grid.codes[0, :, :4], base[:4].expand(2, -1)) and torch.equal(grid.codes[0, :, 4], torch.tensor([-1.0, 1.0]))
    assert traverse(model, 3, steps=2).codes.shape == (3, 2, 6)
    with pytest.raises(GenlabError, match="components must be in"):
        traverse(model, [6])
    with pytest.raises(GenlabError, match="between 1 and 6"):
        traverse(model, 7)


# --- latent maps ----------------------------------------------------------------------------------------
def test_latent_map_of_a_2d_vae_covers_its_codes_and_decodes_its_grid(vae2_run, tmp_path):
    model = vae2_run.model
    images, labels, names = load_test_split(vae2_run.config)
    result = latent_map(model, images, labels, class_names=names, grid_size=6, max_points=500, generator=generator())
    assert result.kind == "latent" and result.points.shape == (500, 2) and result.labels.shape == (500,)
    codes = encode(model, images)
    chosen = torch.randperm(len(images), generator=generator())[:500]
    assert torch.allclose(result.points, codes[chosen], atol=1e-6)  # a 2-D latent is its own map
    x_min, x_max, y_min, y_max = result.extent
    assert x_min <= codes[chosen, 0].min() and codes[chosen, 0].max() <= x_max
    assert y_min <= codes[chosen, 1].min() and codes[chosen, 1].max() <= y_max
    # The grid spans the codes' range: its outer cells reach within one cell of the extremes.
    grid = result.grid_points()
    cell_x, cell_y = (x_max - x_min) / 6, (y_max - y_min) / 6
    assert grid[:, 0].min() <= codes[chosen, 0].min() + cell_x and grid[:, 0].max() >= codes[chosen, 0].max() - cell_x
    assert grid[:, 1].min() <= codes[chosen, 1].min() + cell_y and grid[:, 1].max() >= codes[chosen, 1].max() - cell_y
    assert result.manifold.shape == (36, 1, 28, 28)
    assert torch.allclose(result.manifold, decode(model, result.to_codes(grid)))
    assert grid[0, 1] > grid[-1, 1] and grid[0, 0] < grid[5, 0]  # top row is the largest y, columns go right
    # Pixels of a picture of the map and map points correspond both ways.
    x, y = result.pixel_to_point(10, 150, 168, 168)
    column, row = result.point_to_pixel(x, y, 168, 168)
    assert (column, row) == pytest.approx((10, 150), abs=1e-4)
    assert result.manifold_picture().size == (6 * 28, 6 * 28)
    figure = Image.open(result.save(tmp_path / "map.png"))
    assert figure.width > 800


def test_latent_map_projects_higher_dimensions_on_the_principal_plane_or_with_tsne(mnist5k):
    model = tiny("vae", latent_dim=5)
    result = latent_map(model, mnist5k.test_x, mnist5k.test_y, grid_size=3, max_points=60, method="tsne",
                        generator=generator())
    assert result.kind == "pca" and result.points.shape == (60, 2) and result.embedding.shape == (60, 2)
    assert torch.allclose(result.directions @ result.directions.T, torch.eye(2), atol=1e-5)
    codes = encode(model, mnist5k.test_x[torch.randperm(len(mnist5k.test_x), generator=generator())[:60]])
    centred = codes - codes.mean(0)
    assert torch.allclose(result.points, centred @ result.directions.T, atol=1e-5)
    # The first principal direction holds the most variance of any direction in the code space.
    assert result.points[:, 0].var() >= result.points[:, 1].var()
    assert result.points[:, 0].var() >= centred.var(0).max() - 1e-6
    assert sum(result.explained_variance) <= 1 + 1e-6
    assert result.manifold.shape == (9, 1, 28, 28)


def test_latent_map_without_an_encoder_maps_the_first_two_components():
    model = tiny("dcgan")
    result = latent_map(model, grid_size=4, generator=generator())
    assert result.kind == "axes" and result.points is None and "no encoder" in result.note
    assert result.extent == pytest.approx((-3, 3, -3, 3))
    codes = result.to_codes(result.grid_points())
    assert torch.equal(codes[:, 2:], torch.zeros(16, model.latent_dim - 2))
    assert torch.equal(codes[:, :2], result.grid_points())
    assert result.figure().width > 400


# --- class grids and models without the features ----------------------------------------------------------
def test_class_grid_shares_each_code_down_its_column():
    model = tiny("cvae")
    grid = class_grid(model, columns=3, classes=[1, 4, 7], class_names=[f"digit {k}" for k in range(10)], generator=generator())
    assert grid.images.shape == (9, 1, 28, 28) and grid.row_names == ["digit 1", "digit 4", "digit 7"]
    assert torch.equal(grid.codes[0], grid.codes[1]) and torch.equal(grid.codes[0], grid.codes[2])
    rows = grid.images.view(3, 3, 1, 28, 28)
    assert not torch.equal(rows[0, 0], rows[1, 0]), "the class must change the image for the same code"
    expected = decode(model, grid.codes[1], torch.full((3,), 4))
    assert torch.allclose(rows[1], expected)
    with pytest.raises(GenlabError, match="not conditional"):
        class_grid(tiny("vae"))
    with pytest.raises(GenlabError, match="classes must be in"):
        class_grid(model, classes=[10])


def test_conditional_models_need_a_valid_class_and_unconditional_ones_refuse_one():
    with pytest.raises(GenlabError, match=r"\[0, 10\)"):
        traverse(tiny("cgan"), 1, label=12)
    with pytest.raises(GenlabError, match="not conditional"):
        interpolate(tiny("vae"), label=3)


class SamplesOnly(GenerativeModel):
    """A model that samples without any latent code (like a fitted mixture or an autoregressive model)."""

    def __init__(self) -> None:
        super().__init__(config=None, data_shape=(1, 28, 28))
        self.weight = torch.nn.Parameter(torch.zeros(1))

    def sample(self, n, labels=None, generator=None):
        return torch.rand(n, 1, 28, 28, generator=generator)


def test_models_without_a_latent_space_get_a_clear_error():
    model = SamplesOnly()
    assert not has_latent_space(model) and not has_encoder(model)
    for tool in (lambda: interpolate(model), lambda: traverse(model), lambda: latent_map(model)):
        with pytest.raises(GenlabError, match="latent space"):
            tool()


# --- every registered model with a latent space, through the interface alone ------------------------------
LATENT_MODELS = [name for name in list_models() if has_latent_space(tiny(name))]


@pytest.mark.parametrize("name", LATENT_MODELS)
def test_every_latent_model_works_with_every_tool(name, mnist5k):
    model = tiny(name)
    label = 3 if model.conditional else None
    assert interpolate(model, pairs=1, steps=3, label=label, generator=generator()).images.shape == (3, 1, 28, 28)
    assert traverse(model, 1, steps=2, label=label, generator=generator()).images.shape == (2, 1, 28, 28)
    images, labels = mnist5k.test_x[:6], mnist5k.test_y[:6]
    result = latent_map(model, images, labels, grid_size=2, max_points=6, label=label, generator=generator())
    assert result.manifold.shape == (4, 1, 28, 28)
    assert (result.points is not None) == has_encoder(model)
    if has_encoder(model):
        pair_labels = (labels[:1], labels[1:2]) if model.conditional else None
        assert interpolate_images(model, images[:1], images[1:2], steps=2, labels=pair_labels).images.shape == (4, 1, 28, 28)
    if model.conditional:
        assert class_grid(model, 2, generator=generator()).images.shape == (20, 1, 28, 28)
