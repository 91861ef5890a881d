"""The explorer driven through gradio_client: every operation is an API endpoint of the running app."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.app.conftest import SLIDERS


def read(output) -> np.ndarray:
    """The pixels of an image output: a downloaded file, or the value of an update (image and visibility)."""
    path = output["value"] if isinstance(output, dict) else output
    return np.asarray(Image.open(path).convert("RGB"))


def test_every_event_is_an_api_endpoint(client):
    from genlab.app.explorer import api_names

    endpoints = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    assert {f"/{name}" for name in api_names()} == set(endpoints)
    assert len(endpoints["/decode"]["parameters"]) == 3 + SLIDERS  # run, seed, class, then one value per slider


def test_the_run_switch_reads_the_run_alone(client):
    """One tab's invalid field cannot break the run switch: it takes no other field, and the views follow
    by events of their own (each with its own fields), whatever another tab holds."""
    endpoints = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    assert [parameter["label"] for parameter in endpoints["/select_run"]["parameters"]] == ["run"]
    assert len(endpoints["/samples"]["parameters"]) == 4  # run, count, seed, class: nothing of another view
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="seed of the samples"):
        client.predict("vae2", 16, -5, None, api_name="/samples")
    outputs = client.predict("cvae", api_name="/select_run")
    assert "cvae" in outputs[0] and outputs[1]["visible"] is True
    values = client.predict("cvae", 0, 0, api_name="/seed_sliders")
    assert read(values[SLIDERS]).shape[0] >= 200


def test_select_run_lays_out_the_page_and_the_views_follow(client):
    info, label, *rest = client.predict("vae2", api_name="/select_run")
    assert "vae" in info and "latent_dim 2" in info and "encoder" in info and label["visible"] is False
    assert [update["visible"] for update in rest[:SLIDERS]] == [True, True, False, False]  # a 2-D latent
    caption, codes_picture, manifold_picture = client.predict("vae2", None, api_name="/latent_map")
    assert "2-D latent space" in caption and "cross marks the current z" in caption
    assert read(manifold_picture).shape == read(codes_picture).shape  # clicks map the same way on both
    *values, decoded, code, marked_codes, marked_manifold = client.predict("vae2", 7, None, api_name="/seed_sliders")
    assert values[2:] == [0.0, 0.0] and json.loads(code) == pytest.approx(values[:2], abs=0.01)
    assert read(decoded).shape[0] >= 200
    assert not np.array_equal(read(marked_manifold), read(manifold_picture))  # the current z is marked
    assert not np.array_equal(read(marked_codes), read(codes_picture))


def test_sliders_drive_the_decoded_image(client):
    first, code, *_ = client.predict("vae2", 3, None, 1.0, -1.0, 0, 0, api_name="/decode")
    same, *_ = client.predict("vae2", 3, None, 1.0, -1.0, 0, 0, api_name="/decode")
    moved, moved_code, *_ = client.predict("vae2", 3, None, -2.5, 2.0, 0, 0, api_name="/decode")
    assert json.loads(code) == [1.0, -1.0] and json.loads(moved_code) == [-2.5, 2.0]
    assert np.array_equal(read(first), read(same))
    assert not np.array_equal(read(first), read(moved))
    seed, *values = client.predict("vae2", None, api_name="/random_z")[: 1 + SLIDERS]
    assert 0 <= seed < 2**31 and all(-4 <= value <= 4 for value in values)


def test_a_map_point_moves_the_sliders_and_the_mark(client):
    point, code = client.predict("vae2", None, 0.5, -0.5, api_name="/decode_point")
    assert json.loads(code) == [0.5, -0.5] and read(point).shape[0] >= 200
    *values, decoded, z_code, _, marked = client.predict("vae2", 3, None, 0.5, -0.5, api_name="/point_sliders")
    assert values == [0.5, -0.5, 0.0, 0.0] and json.loads(z_code) == [0.5, -0.5]
    assert np.array_equal(read(decoded), read(point))  # z is now the clicked code
    *_, elsewhere = client.predict("vae2", 3, None, -1.0, 1.0, api_name="/point_sliders")
    assert not np.array_equal(read(marked), read(elsewhere))  # the mark follows z


def test_interpolation_samples_and_reconstruction(client):
    strip, at_position = client.predict("vae2", 1, 2, 6, "spherical", 0.5, None, api_name="/interpolate")
    assert read(strip).shape[1] > 6 * 28
    grid = client.predict("vae2", 9, 0, None, api_name="/samples")
    assert read(grid).shape[1] >= 3 * 28

    from gradio_client import handle_file

    image, label = client.predict("vae2", 4, api_name="/test_image")
    assert label is None  # the class selector stays unused for an unconditional model
    seen, reconstruction, code = client.predict("vae2", handle_file(image), None, False, api_name="/reconstruct")
    assert len(json.loads(code)) == 2
    assert read(reconstruction).shape == read(seen).shape


@pytest.mark.parametrize("arguments, api_name, message", [
    (("elsewhere",), "/select_run", "run: .*not in the list of choices"),
    (("elsewhere", 0, None, 0, 0, 0, 0), "/decode", "not in the list of choices"),
    (("vae2", 0, None, 100.0, 0, 0, 0), "/decode", "z0: .*maximum"),
    (("vae2", -5, None), "/seed_sliders", "seed of z: .*minimum"),
    (("vae2", 1, 2, 200, "linear", 0.5, None), "/interpolate", "steps: .*maximum"),
    (("vae2", 1, -2, 8, "linear", 0.5, None), "/interpolate", "seed B"),
    (("vae2", 1000, 0, None), "/samples", "maximum"),
    (("vae2", None, 1e9, 0), "/decode_point", "map x"),
    (("vae2", 0, None, 1e9, 0), "/point_sliders", "map x"),
    (("gans/dcgan", 0), "/test_image", "no encoder"),
    (("cvae", 0, 10, 0, 0, 0, 0), "/decode", "class|list of choices"),
    (("vae2", None), "/map_click", "decode_point"),
])
def test_bad_requests_get_a_clear_message(client, arguments, api_name, message):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match=message):
        client.predict(*arguments, api_name=api_name)


def test_a_bad_input_is_one_line_in_the_server_log(client, capfd):
    from gradio_client.exceptions import AppError

    capfd.readouterr()
    for arguments, api_name in ((("vae2", 16, -5, None), "/samples"),  # refused by the field itself
                                (("vae2", 1, 2, 8, "linear", 2.0, None), "/interpolate"),  # by the explorer
                                (("gans/dcgan", 0), "/test_image")):
        with pytest.raises(AppError):
            client.predict(*arguments, api_name=api_name)
    captured = capfd.readouterr()
    log = captured.out + captured.err
    assert "Traceback" not in log, log
    refusals = [line for line in log.splitlines() if line.startswith("genlab explorer: refused:")]
    assert len(refusals) == 3, log
    assert "seed of the samples" in refusals[0] and "position" in refusals[1] and "no encoder" in refusals[2]


def test_a_model_without_an_encoder_still_explores(client):
    outputs = client.predict("gans/dcgan", api_name="/select_run")
    assert "no encoder" in outputs[0]
    _, codes_picture, manifold_picture = client.predict("gans/dcgan", None, api_name="/latent_map")
    assert codes_picture["visible"] is False  # no codes to scatter
    assert Path(manifold_picture).is_file()  # the decoded plane of z0, z1
    picture, _, codes_update, marked = client.predict("gans/dcgan", 0, None, 1.0, 0.0, -1.0, 2.0, api_name="/decode")
    assert read(picture).shape[0] >= 200 and codes_update["visible"] is False
    assert not np.array_equal(read(marked), read(manifold_picture))  # z is marked on the decoded plane


def test_a_conditional_model_gets_a_class_selector(client):
    outputs = client.predict("cvae", api_name="/select_run")
    selector = outputs[1]
    assert selector["visible"] is True and [value for _, value in selector["choices"]] == list(range(10))
    zero, *_ = client.predict("cvae", 0, 0, 0.5, 0.5, 0.5, 0, api_name="/decode")
    nine, *_ = client.predict("cvae", 0, 9, 0.5, 0.5, 0.5, 0, api_name="/decode")
    assert not np.array_equal(read(zero), read(nine))
    image, label = client.predict("cvae", 3, api_name="/test_image")
    assert 0 <= label < 10  # the class follows the test image (the page then redraws every view)
    one, eight = 1, 8  # the map, the interpolation and the samples follow the class
    assert not np.array_equal(read(client.predict("cvae", one, api_name="/latent_map")[2]),
                              read(client.predict("cvae", eight, api_name="/latent_map")[2]))
    assert not np.array_equal(read(client.predict("cvae", 1, 2, 4, "linear", 0.5, one, api_name="/interpolate")[0]),
                              read(client.predict("cvae", 1, 2, 4, "linear", 0.5, eight, api_name="/interpolate")[0]))
    assert not np.array_equal(read(client.predict("cvae", 4, 0, one, api_name="/samples")),
                              read(client.predict("cvae", 4, 0, eight, api_name="/samples")))


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
