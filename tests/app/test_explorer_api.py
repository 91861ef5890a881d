"""The explorer driven through gradio_client: every operation is an API endpoint of the running app."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.app.conftest import SLIDERS

# The page's values every view depends on: seed, sliders, seed A, seed B, steps, path, t, samples, sample seed.
VIEWS = (0, *[0.0] * SLIDERS, 1, 2, 8, "linear", 0.5, 16, 0)


def read(output) -> np.ndarray:
    """The pixels of an image output: a downloaded file, or the value of an update (image and visibility)."""
    path = output["value"] if isinstance(output, dict) else output
    return np.asarray(Image.open(path).convert("RGB"))


def test_every_event_is_an_api_endpoint(client):
    from genlab.app.explorer import api_names

    endpoints = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    assert {f"/{name}" for name in api_names()} <= set(endpoints)
    assert len(endpoints["/decode"]["parameters"]) == 3 + SLIDERS  # run, seed, class, then one value per slider


def test_select_run_lays_out_the_page_for_the_run(client):
    outputs = client.predict("vae2", *VIEWS, api_name="/select_run")
    info, sliders = outputs[0], outputs[2 : 2 + SLIDERS]
    assert "vae" in info and "latent_dim 2" in info and "encoder" in info
    decoded, code = outputs[2 + SLIDERS], outputs[3 + SLIDERS]
    assert read(decoded).shape[0] >= 200 and len(json.loads(code)) == 2
    codes_picture, manifold_picture = outputs[5 + SLIDERS], outputs[6 + SLIDERS]
    assert read(manifold_picture).shape == read(codes_picture).shape  # clicks map the same way on both


def test_sliders_drive_the_decoded_image(client):
    first, code = client.predict("vae2", 3, None, 1.0, -1.0, 0, 0, api_name="/decode")
    same, _ = client.predict("vae2", 3, None, 1.0, -1.0, 0, 0, api_name="/decode")
    moved, moved_code = client.predict("vae2", 3, None, -2.5, 2.0, 0, 0, api_name="/decode")
    assert json.loads(code) == [1.0, -1.0] and json.loads(moved_code) == [-2.5, 2.0]
    assert np.array_equal(read(first), read(same))
    assert not np.array_equal(read(first), read(moved))
    seed, *values = client.predict("vae2", None, api_name="/random_z")[: 1 + SLIDERS]
    assert 0 <= seed < 2**31 and all(-4 <= value <= 4 for value in values)


def test_map_interpolation_samples_and_reconstruction(client):
    point, code = client.predict("vae2", None, 0.5, -0.5, api_name="/decode_point")
    assert json.loads(code) == [0.5, -0.5] and read(point).shape[0] >= 200
    strip, at_position = client.predict("vae2", 1, 2, 6, "spherical", 0.5, None, api_name="/interpolate")
    assert read(strip).shape[1] > 6 * 28
    grid = client.predict("vae2", 9, 0, None, api_name="/samples")
    assert read(grid).shape[1] >= 3 * 28

    from gradio_client import handle_file

    image, label, *_ = client.predict("vae2", 4, *VIEWS, api_name="/test_image")
    assert label is None  # the class selector stays unused for an unconditional model
    seen, reconstruction, code = client.predict("vae2", handle_file(image), None, False, api_name="/reconstruct")
    assert len(json.loads(code)) == 2
    assert read(reconstruction).shape == read(seen).shape


@pytest.mark.parametrize("arguments, api_name, message", [
    (("elsewhere", 0, None, 0, 0, 0, 0), "/decode", "not in the list of choices"),
    (("vae2", 0, None, 100.0, 0, 0, 0), "/decode", "maximum"),
    (("vae2", 1, 2, 200, "linear", 0.5, None), "/interpolate", "maximum"),
    (("vae2", 1000, 0, None), "/samples", "maximum"),
    (("vae2", None, 1e9, 0), "/decode_point", "map x"),
    (("gans/dcgan", 0, *VIEWS), "/test_image", "no encoder"),
    (("cvae", 0, 10, 0, 0, 0, 0), "/decode", "class|list of choices"),
    (("vae2", None), "/map_click", "decode_point"),
])
def test_bad_requests_get_a_clear_message(client, arguments, api_name, message):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match=message):
        client.predict(*arguments, api_name=api_name)


def test_a_model_without_an_encoder_still_explores(client):
    outputs = client.predict("gans/dcgan", *VIEWS, api_name="/select_run")
    assert "no encoder" in outputs[0]
    assert outputs[5 + SLIDERS]["visible"] is False  # no codes to scatter
    assert Path(outputs[6 + SLIDERS]).is_file()  # the decoded plane of z0, z1
    picture, _ = client.predict("gans/dcgan", 0, None, 1.0, 0.0, -1.0, 2.0, api_name="/decode")
    assert read(picture).shape[0] >= 200


def test_a_conditional_model_gets_a_class_selector(client):
    outputs = client.predict("cvae", *VIEWS, api_name="/select_run")
    selector = outputs[1]
    assert selector["visible"] is True and [value for _, value in selector["choices"]] == list(range(10))
    zero, _ = client.predict("cvae", 0, 0, 0.5, 0.5, 0.5, 0, api_name="/decode")
    nine, _ = client.predict("cvae", 0, 9, 0.5, 0.5, 0.5, 0, api_name="/decode")
    assert not np.array_equal(read(zero), read(nine))
    image, label, decoded, *_ = client.predict("cvae", 3, *VIEWS, api_name="/test_image")
    assert 0 <= label < 10 and read(decoded).shape[0] >= 200  # the class follows the test image, and z is redecoded
    first = client.predict("cvae", 1, *VIEWS, api_name="/set_class")
    second = client.predict("cvae", 8, *VIEWS, api_name="/set_class")
    for index in (0, 4, 5, 7):  # decoded z, decoded map grid, interpolation strip, samples follow the class
        assert not np.array_equal(read(first[index]), read(second[index])), index


def outward_address() -> str | None:
    """This machine's address on its default route (a UDP connect sends nothing), or None."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.255.255.255", 9))
        except OSError:
            return None
        address = probe.getsockname()[0]
    return None if address.startswith("127.") or address == "0.0.0.0" else address


def test_the_app_listens_on_the_loopback_address_only(explorer_url):
    import socket

    port = int(explorer_url.rstrip("/").rsplit(":", 1)[1])
    socket.create_connection(("127.0.0.1", port), timeout=5).close()
    address = outward_address()
    if address is None:
        pytest.skip("this machine has no address besides loopback")
    with pytest.raises(OSError):
        socket.create_connection((address, port), timeout=5).close()
