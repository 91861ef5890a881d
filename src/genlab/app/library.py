"""What the explorer does, without the web page: the runs it may open and every operation behind a control.

`RunLibrary` (run_library.py) holds the only run folders the app can open (those found under the
folder it was started on), loaded on demand and cached. `Explorer` turns requests (a run name, a seed, slider
values, a click on the map) into Pillow images and numbers by calling genlab.latent, checking
every value a browser or an API client can send: a bad request raises a one-line GenlabError.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch
from PIL import Image

# The run finding and the pictures have modules of their own; their names are also imported from here.
from genlab.app.pictures import DISPLAY_SIDE, display, draw_crosshair, format_code, map_caption, single_picture  # noqa: F401
from genlab.app.run_library import MAP_SIDE, SEARCH_DEPTH, RunLibrary, find_runs  # noqa: F401
from genlab.errors import GenlabError
from genlab.images import make_grid
from genlab.latent import class_grid, decode, draw_codes, encode, has_encoder, has_latent_space, interpolate
from genlab.latent.common import label_batch, labelled_grid, no_encoder_message, resolve_label
from genlab.latent.interpolate import codes_along
from genlab.train.run import Run

# Bounds on what one request may ask for.
MAX_COMPONENTS = 32  # sliders
SLIDER_RANGE = 4.0  # sliders move a component over the prior's centre ± 4 standard deviations
MAX_SEED = 2**31 - 1
MAX_SAMPLES = 64
MAX_INTERPOLATION_STEPS = 16
MAX_CLASS_COLUMNS = 16
MAX_UPLOAD_PIXELS = 4096 * 4096


@dataclass
class RunSummary:
    """What the page needs to lay itself out for a run."""

    name: str
    text: str  # markdown
    latent_dim: int
    sliders: int  # how many component sliders apply
    conditional: bool
    class_names: list[str]
    encoder: bool
    latent: bool
    encoder_note: str


class Explorer:
    """Every operation of the explorer page, on runs of one `RunLibrary`, checked and bounded."""

    def __init__(self, library: RunLibrary, components: int = 8) -> None:
        if not 1 <= components <= MAX_COMPONENTS:
            raise GenlabError(f"the number of sliders must be between 1 and {MAX_COMPONENTS}, got {components}")
        self.library = library
        self.components = components

    # --- checks -------------------------------------------------------------------------------------
    def latent_run(self, name: str | None) -> Run:
        run = self.library.run(name)
        if not has_latent_space(run.model):
            raise GenlabError(f"run {name!r} ('{run.model.registry_name}') has no latent space to explore; "
                              "the sample grid still works")
        if len(run.model.data_shape) != 3:
            raise GenlabError(f"run {name!r} models points, not images; the explorer draws images")
        return run

    @classmethod
    def seed(cls, value: Any, name: str = "seed") -> int:
        return cls.whole(value, 0, MAX_SEED, name)

    @staticmethod
    def whole(value: Any, low: int, high: int, name: str) -> int:
        return int(Explorer.number(value, low, high, name, whole=True))

    @staticmethod
    def real(value: Any, low: float, high: float, name: str) -> float:
        return Explorer.number(value, low, high, name, whole=False)

    @staticmethod
    def number(value: Any, low: float, high: float, name: str, whole: bool) -> float:
        """`value` as a float in [low, high] (a whole number when `whole`), else a one-line error."""
        problem = f"{name} must be {'a whole number' if whole else 'a number'} in [{low}, {high}], got {value!r}"
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise GenlabError(problem) from None
        if not low <= number <= high or (whole and not number.is_integer()):  # also refuses NaN
            raise GenlabError(problem)
        return number

    def label(self, run: Run, value: Any) -> int | None:
        """The class to decode with: None for unconditional models (whatever was sent), checked otherwise."""
        if not run.model.conditional:
            return None
        if value is None or value == "":
            return 0
        return resolve_label(run.model, self.whole(value, 0, run.model.num_classes - 1, "class"))

    # --- the run ------------------------------------------------------------------------------------
    def summary(self, name: str | None) -> RunSummary:
        run = self.library.run(name)
        model = run.model
        latent = has_latent_space(model) and len(model.data_shape) == 3
        encoder = latent and has_encoder(model)
        class_names = list(run.config.get("class_names", [])) or [str(k) for k in range(model.num_classes)]
        data = run.config.get("data", {}).get("name", "?")
        parts = [f"**{model.registry_name}** on **{data}**, step {run.step}",
                 f"latent_dim {model.latent_dim}" if latent else "no latent space",
                 "conditional" if model.conditional else "unconditional",
                 "encoder" if encoder else "no encoder"]
        note = "" if encoder or not latent else no_encoder_message(model)
        text = " · ".join(parts)
        if not latent:
            text += "  \nThis model has no decodable latent space: only the sample grid applies."
        return RunSummary(name=name or "", text=text, latent_dim=model.latent_dim if latent else 0,
                          sliders=min(self.components, model.latent_dim) if latent else 0,
                          conditional=bool(model.conditional), class_names=class_names[: model.num_classes],
                          encoder=encoder, latent=latent, encoder_note=note)

    # --- sliders --------------------------------------------------------------------------------------
    def base_code(self, run: Run, seed: int) -> torch.Tensor:
        """The code drawn from the prior with `seed`: the sliders replace its first components."""
        return draw_codes(run.model, 1, torch.Generator().manual_seed(seed))[0]

    def slider_values(self, name: str | None, seed: Any) -> list[float]:
        """The first K components of the seed's code, in prior standard deviations from the prior's centre."""
        run = self.latent_run(name)
        return self.sliders_for_code(name, self.base_code(run, self.seed(seed)))

    def sliders_for_code(self, name: str | None, code: torch.Tensor) -> list[float]:
        """Slider positions for the first K components of `code` (D,): prior standard deviations from the
        prior's centre, clamped to ±SLIDER_RANGE, at the sliders' step; sliders past the code read 0."""
        run = self.latent_run(name)
        centre, scale = self.library.prior_spread(name)
        count = min(self.components, run.model.latent_dim)
        values = ((code[:count] - centre[:count]) / scale[:count]).clamp(-SLIDER_RANGE, SLIDER_RANGE)
        return [round(float(value), 2) for value in values] + [0.0] * (self.components - count)

    def slider_code(self, name: str | None, seed: Any, values: Sequence[Any]) -> tuple[Run, torch.Tensor]:
        run = self.latent_run(name)
        if len(values) > self.components:
            raise GenlabError(f"at most {self.components} slider values, got {len(values)}")
        code = self.base_code(run, self.seed(seed))
        centre, scale = self.library.prior_spread(name)
        for index, value in enumerate(values[: run.model.latent_dim]):
            offset = self.real(value, -SLIDER_RANGE, SLIDER_RANGE, f"slider z{index}")
            code[index] = centre[index] + offset * scale[index]
        return run, code

    def decode_sliders(self, name: str | None, seed: Any, label: Any, values: Sequence[Any]) -> tuple[Image.Image, str]:
        """The image decoded from the seed's code with its first components set by the sliders, and the code."""
        run, code = self.slider_code(name, seed, values)
        label = self.label(run, label)
        image = decode(run.model, code.unsqueeze(0), label_batch(run.model, label, 1))[0]
        return single_picture(image), format_code(code)

    # --- latent map -------------------------------------------------------------------------------------
    def map_pictures(self, name: str | None, label: Any, marker: tuple[float, float] | None = None) -> tuple[Image.Image | None, Image.Image, str]:
        """(codes picture or None without an encoder, decoded manifold, an HTML caption with the class colours)."""
        run = self.latent_run(name)
        if run.model.latent_dim < 2:
            raise GenlabError("a latent map needs at least 2 latent dimensions; use the sliders")
        result = self.library.latent_map(name, self.label(run, label))
        manifold = result.manifold_picture()
        codes = None if result.points is None else result.codes_picture(manifold.width, manifold.height, marker)
        return codes, manifold, map_caption(result)

    def map_click(self, name: str | None, label: Any, column: Any, row: Any) -> tuple[float, float]:
        """The map point under pixel (column, row) of the map's pictures."""
        run = self.latent_run(name)
        result = self.library.latent_map(name, self.label(run, label))
        width, height = result.manifold_picture().size
        column = self.real(column, 0, width - 1, "pixel column")
        row = self.real(row, 0, height - 1, "pixel row")
        return result.pixel_to_point(column, row, width, height)

    def map_point_code(self, name: str | None, label: Any, x: Any, y: Any) -> tuple[Run, int | None, torch.Tensor]:
        """(run, class, the code (D,) at map point (x, y)); the point must lie within twice the map's extent."""
        run = self.latent_run(name)
        label = self.label(run, label)
        result = self.library.latent_map(name, label)
        x_min, x_max, y_min, y_max = result.extent
        x_pad, y_pad = (x_max - x_min) / 2, (y_max - y_min) / 2
        x = self.real(x, x_min - x_pad, x_max + x_pad, "map x")
        y = self.real(y, y_min - y_pad, y_max + y_pad, "map y")
        return run, label, result.to_codes([x, y])

    def decode_point(self, name: str | None, label: Any, x: Any, y: Any) -> tuple[Image.Image, str]:
        """Decode the code at map point (x, y); the point must lie within twice the map's extent."""
        run, label, code = self.map_point_code(name, label, x, y)
        image = decode(run.model, code.unsqueeze(0), label_batch(run.model, label, 1))[0]
        return single_picture(image), format_code(code)

    def point_sliders(self, name: str | None, label: Any, x: Any, y: Any) -> list[float]:
        """Slider positions that move z to map point (x, y): exactly when the sliders cover the whole code
        (and the point lies within ±SLIDER_RANGE), else its first K components."""
        _, _, code = self.map_point_code(name, label, x, y)
        return self.sliders_for_code(name, code)

    def marked_map(self, name: str | None, label: Any, code: torch.Tensor) -> tuple[Image.Image | None, Image.Image]:
        """The map's pictures (the codes, None without an encoder; the decoded grid), each with a crosshair
        where `code` (D,) falls on the map's plane (held at the edge when it falls outside)."""
        run = self.latent_run(name)
        if run.model.latent_dim < 2:
            raise GenlabError("a latent map needs at least 2 latent dimensions; use the sliders")
        result = self.library.latent_map(name, self.label(run, label))
        manifold = result.manifold_picture()
        x, y = result.to_points(code).tolist()
        codes = None if result.points is None else result.codes_picture(manifold.width, manifold.height)
        column, row = result.point_to_pixel(x, y, manifold.width, manifold.height)
        for picture in (codes, manifold):
            if picture is not None:
                draw_crosshair(picture, column, row)
        return codes, manifold

    # --- interpolation ---------------------------------------------------------------------------------
    def interpolation(self, name: str | None, seed_a: Any, seed_b: Any, steps: Any, method: str, label: Any) -> Image.Image:
        """A strip of `steps` images from the code of `seed_a` to that of `seed_b`."""
        run = self.latent_run(name)
        steps = self.whole(steps, 2, MAX_INTERPOLATION_STEPS, "steps")
        start, end = self.base_code(run, self.seed(seed_a, "seed A")), self.base_code(run, self.seed(seed_b, "seed B"))
        grid = interpolate(run.model, start, end, steps=steps, method=self.method(method), label=self.label(run, label))
        return grid.picture(scale=3 if steps <= 10 else 2)

    def interpolation_at(self, name: str | None, seed_a: Any, seed_b: Any, position: Any, method: str, label: Any) -> Image.Image:
        """The image at position t in [0, 1] of the path from seed A's code to seed B's."""
        run = self.latent_run(name)
        position = self.real(position, 0.0, 1.0, "position t")
        start, end = self.base_code(run, self.seed(seed_a, "seed A")), self.base_code(run, self.seed(seed_b, "seed B"))
        code = codes_along(start, end, torch.tensor([position]), self.method(method))[0]
        label = self.label(run, label)
        return single_picture(decode(run.model, code.unsqueeze(0), label_batch(run.model, label, 1))[0])

    @staticmethod
    def method(value: str) -> str:
        if value not in ("linear", "spherical"):
            raise GenlabError(f"interpolation method must be linear or spherical, got {value!r}")
        return value

    # --- samples ------------------------------------------------------------------------------------------
    def samples(self, name: str | None, count: Any, seed: Any, label: Any) -> Image.Image:
        """A grid of `count` samples drawn with `seed` (of class `label` for conditional models)."""
        run = self.library.run(name)
        count = self.whole(count, 1, MAX_SAMPLES, "number of samples")
        label = self.label(run, label)
        labels = None if label is None else torch.full((count,), label, dtype=torch.long)
        images = run.model.sample(count, labels=labels, generator=torch.Generator().manual_seed(self.seed(seed)))
        if images.dim() != 4:
            from genlab.images import samples_image

            return samples_image(images.cpu())
        return display(labelled_grid(images.float().cpu(), columns=int(np.ceil(np.sqrt(count)))), 420)

    def class_grid(self, name: str | None, columns: Any, seed: Any) -> Image.Image:
        """One row per class, each column one code shared by every class."""
        run = self.latent_run(name)
        columns = self.whole(columns, 1, MAX_CLASS_COLUMNS, "columns")
        grid = class_grid(run.model, columns, class_names=self.summary(name).class_names,
                          generator=torch.Generator().manual_seed(self.seed(seed)))
        return grid.picture()

    # --- encoder ------------------------------------------------------------------------------------------
    def test_image(self, name: str | None, index: Any) -> tuple[np.ndarray, int]:
        """Test image `index` of the run's data as a uint8 array (H, W) or (H, W, 3), with its class."""
        run = self.latent_run(name)
        if not has_encoder(run.model):
            raise GenlabError(no_encoder_message(run.model))
        images, labels, _ = self.library.test_split(name)
        index = self.whole(index, 0, images.shape[0] - 1, "test image index")
        # Upscaled by whole pixels so it is visible; model_input's area averaging gives back the original.
        picture = display(Image.fromarray(make_grid(images[index : index + 1].float() / 255, 1, padding=0)))
        return np.asarray(picture), int(labels[index])

    def model_input(self, run: Run, array: Any, invert: bool) -> torch.Tensor:
        """An uploaded image as the model's input: its channels, resized to its size, in [0, 1]; (1, C, H, W)."""
        if array is None:
            raise GenlabError("upload an image first (or load a test image)")
        array = np.asarray(array)
        if array.ndim not in (2, 3) or array.size == 0 or array.shape[0] * array.shape[1] > MAX_UPLOAD_PIXELS:
            raise GenlabError(f"expected an image of at most {MAX_UPLOAD_PIXELS} pixels, got an array of shape {array.shape}")
        if array.dtype != np.uint8:
            array = np.clip(array, 0, 255).astype(np.uint8)
        picture = Image.fromarray(array if array.ndim == 2 or array.shape[2] != 1 else array[:, :, 0])
        channels, height, width = run.model.data_shape
        # Area averaging when shrinking (exact for whole-pixel upscales), bilinear when enlarging.
        shrinking = picture.width >= width and picture.height >= height
        picture = picture.convert("L" if channels == 1 else "RGB").resize((width, height), Image.BOX if shrinking else Image.BILINEAR)
        tensor = torch.from_numpy(np.array(picture, dtype=np.float32) / 255.0)
        tensor = tensor.unsqueeze(0) if channels == 1 else tensor.permute(2, 0, 1)
        return (1.0 - tensor if invert else tensor).unsqueeze(0)

    def reconstruct(self, name: str | None, array: Any, label: Any, invert: bool = False) -> tuple[Image.Image, Image.Image, str]:
        """(the image as the model sees it, its reconstruction decode(encode(x)), its code)."""
        run = self.latent_run(name)
        if not has_encoder(run.model):
            raise GenlabError(no_encoder_message(run.model))
        image = self.model_input(run, array, bool(invert))
        label = self.label(run, label)
        labels = label_batch(run.model, label, 1)
        code = encode(run.model, image, None if labels is None else labels.cpu())
        reconstruction = decode(run.model, code, labels)[0]
        return single_picture(image[0]), single_picture(reconstruction), format_code(code[0])
