"""The `genlab` latent-space commands: interpolate, traverse, latent-map and class-grid.

Thin wrappers over genlab.latent; genlab.cli registers them on the `genlab` app in its command order.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from genlab.errors import GenlabError


def _latent_out(run: Path, out: Optional[Path], name: str) -> Path:
    return out if out is not None else run / "latent" / f"{name}.png"


def interpolate_command(
    run: Path = typer.Argument(..., help="a run folder of a model with a latent space"),
    pairs: int = typer.Option(4, help="number of pairs, one row each"),
    steps: int = typer.Option(8, help="images per path, both ends included"),
    method: str = typer.Option("linear", help="linear | spherical"),
    from_data: bool = typer.Option(False, "--from-data", help="between real test images, through the encoder"),
    label: Optional[int] = typer.Option(None, "--label", help="class to decode with (conditional models; default 0)"),
    seed: int = typer.Option(0, help="seed of the random codes or of the choice of test images"),
    step: Optional[int] = typer.Option(None, help="use the checkpoint at this step instead of the final model"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="PNG to write (default RUN/latent/interpolate.png)"),
) -> None:
    """Decode paths between pairs of random codes (or of encoded test images), one row per pair."""
    import torch

    from genlab.latent import interpolate, interpolate_images, load_test_split
    from genlab.train.run import load_run

    loaded = load_run(run, step=step)
    generator = torch.Generator().manual_seed(seed)
    if from_data:
        images, labels, _ = load_test_split(loaded.config)
        chosen = torch.randperm(images.shape[0], generator=generator)[: 2 * pairs]
        if chosen.numel() < 2 * pairs:
            raise GenlabError(f"the test split has {images.shape[0]} images, fewer than 2 x --pairs {pairs}")
        first, second = chosen[:pairs], chosen[pairs:]
        grid = interpolate_images(loaded.model, images[first], images[second], steps=steps, method=method,
                                  labels=(labels[first], labels[second]))
    else:
        grid = interpolate(loaded.model, pairs=pairs, steps=steps, method=method, label=label, generator=generator)
    typer.echo(str(grid.save(_latent_out(run, out, "interpolate"))))


def traverse_command(
    run: Path = typer.Argument(..., help="a run folder of a model with a latent space"),
    components: Optional[str] = typer.Option(None, help="components to vary, e.g. 0,3,5 (default: the first --count)"),
    count: int = typer.Option(8, help="vary each of the first K components (when --components is not given)"),
    steps: int = typer.Option(9, help="values per component"),
    span: float = typer.Option(3.0, help="range: the prior's centre ± SPAN standard deviations"),
    from_image: Optional[int] = typer.Option(None, "--from-image", help="start from the code of this test image (encoder models)"),
    label: Optional[int] = typer.Option(None, "--label", help="class to decode with (conditional models; default 0)"),
    seed: int = typer.Option(0, help="seed of the code the traversal starts from"),
    step: Optional[int] = typer.Option(None, help="use the checkpoint at this step instead of the final model"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="PNG to write (default RUN/latent/traverse.png)"),
) -> None:
    """Vary latent components one at a time, the others fixed: one row per component."""
    import torch

    from genlab.latent import encode, load_test_split, traverse
    from genlab.train.run import load_run

    loaded = load_run(run, step=step)
    chosen: object = min(count, loaded.model.latent_dim) if loaded.model.latent_dim else count
    if components:
        try:
            chosen = [int(part) for part in components.split(",") if part.strip()]
        except ValueError:
            raise GenlabError(f"--components takes comma-separated integers, got {components!r}") from None
    base = None
    if from_image is not None:
        images, labels, _ = load_test_split(loaded.config)
        if not 0 <= from_image < images.shape[0]:
            raise GenlabError(f"--from-image must be in [0, {images.shape[0]}), got {from_image}")
        image_labels = labels[from_image : from_image + 1] if loaded.model.conditional else None
        base = encode(loaded.model, images[from_image : from_image + 1], image_labels)[0]
        if loaded.model.conditional and label is None:
            label = int(labels[from_image])
    grid = traverse(loaded.model, chosen, steps=steps, span=span, base=base, label=label,
                    generator=torch.Generator().manual_seed(seed))
    typer.echo(str(grid.save(_latent_out(run, out, "traverse"))))


def latent_map_command(
    run: Path = typer.Argument(..., help="a run folder of a model with a latent space"),
    grid: int = typer.Option(15, help="decoded images per side of the manifold"),
    method: str = typer.Option("pca", help="projection of codes with more than 2 dimensions: pca | tsne"),
    points: int = typer.Option(2000, help="test images to encode (at most)"),
    label: Optional[int] = typer.Option(None, "--label", help="class to decode with (conditional models; default 0)"),
    seed: int = typer.Option(0, help="seed of the choice of test images (and of t-SNE)"),
    step: Optional[int] = typer.Option(None, help="use the checkpoint at this step instead of the final model"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="PNG to write (default RUN/latent/latent-map.png)"),
) -> None:
    """The encoded test set coloured by class beside the decoded manifold over the same axes."""
    import torch

    from genlab.latent import has_encoder, latent_map, load_test_split
    from genlab.train.run import load_run

    loaded = load_run(run, step=step)
    images = labels = None
    class_names: list = list(loaded.config.get("class_names", []))
    if has_encoder(loaded.model):
        images, labels, class_names = load_test_split(loaded.config)
    result = latent_map(loaded.model, images, labels, class_names=class_names, grid_size=grid, method=method,
                        max_points=points, label=label, generator=torch.Generator().manual_seed(seed))
    if result.note:
        typer.echo(result.note, err=True)
    typer.echo(str(result.save(_latent_out(run, out, "latent-map"))))


def class_grid_command(
    run: Path = typer.Argument(..., help="a run folder of a conditional model"),
    columns: int = typer.Option(8, help="codes, one per column, shared by every class"),
    seed: int = typer.Option(0, help="seed of the codes"),
    step: Optional[int] = typer.Option(None, help="use the checkpoint at this step instead of the final model"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="PNG to write (default RUN/latent/class-grid.png)"),
) -> None:
    """One row per class, each column one code: what the latent holds apart from the class (style)."""
    import torch

    from genlab.latent import class_grid
    from genlab.train.run import load_run

    loaded = load_run(run, step=step)
    grid = class_grid(loaded.model, columns, class_names=list(loaded.config.get("class_names", [])),
                      generator=torch.Generator().manual_seed(seed))
    typer.echo(str(grid.save(_latent_out(run, out, "class-grid"))))
