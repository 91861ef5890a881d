"""Latent-space tools: interpolations, traversals, latent maps and class grids.

Pure functions over the common model interface (`sample_latent`, `decode`, `encode`, `latent_dim`,
`conditional`, `num_classes`) with an explicit `torch.Generator`, so every model with a latent space
works without code of its own. Each returns a `LatentGrid` or `LatentMap` that can `save(path)`.

    from genlab.latent import interpolate, traverse
    grid = interpolate(run.model, pairs=4, steps=8, method="spherical", generator=torch.Generator().manual_seed(0))
    grid.save("interpolation.png")
"""

from genlab.latent.class_grid import class_grid
from genlab.latent.common import LatentGrid, decode, draw_codes, encode, has_encoder, has_latent_space, load_test_split
from genlab.latent.interpolate import interpolate, interpolate_codes, interpolate_images, lerp, slerp
from genlab.latent.latent_map import LatentMap, latent_map
from genlab.latent.traverse import traverse, traverse_codes

__all__ = [
    "LatentGrid",
    "LatentMap",
    "class_grid",
    "decode",
    "draw_codes",
    "encode",
    "has_encoder",
    "has_latent_space",
    "interpolate",
    "interpolate_codes",
    "interpolate_images",
    "latent_map",
    "lerp",
    "load_test_split",
    "slerp",
    "traverse",
    "traverse_codes",
]
