"""The explorer in a real browser: Debian's chromium, driven by playwright, loads the page, moves a
slider and sees the decoded image change, clicks the latent map, and saves a screenshot.

No browser is downloaded: playwright starts /usr/bin/chromium (`make test` installs it with apt-get
where it runs as root).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
# Headless and quiet: no sandbox (the tests may run as root), no GPU, nothing fetched from the network.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium "
                                "(`make test` installs it with apt-get when run as root)")


@pytest.fixture(scope="module")
def page(explorer_url):
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (the dev extra) is not installed")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        outside = []
        page.on("request", lambda request: outside.append(request.url)
                if not request.url.startswith((explorer_url.rstrip("/"), "data:", "blob:")) else None)
        page.goto(explorer_url)
        page.outside_requests = outside
        yield page
        browser.close()


def image_source(page, element_id: str) -> str | None:
    return page.evaluate(f"() => document.querySelector('#{element_id} img')?.getAttribute('src') ?? null")


def wait_for_new_image(page, element_id: str, previous: str | None) -> str:
    page.wait_for_function(
        "([id, previous]) => { const image = document.querySelector(`#${id} img`);"
        " return image && image.complete && image.getAttribute('src') !== previous; }",
        arg=[element_id, previous], timeout=60_000)
    return image_source(page, element_id)


def test_moving_a_slider_changes_the_decoded_image(page, tmp_path):
    first = wait_for_new_image(page, "decoded", None)
    before = page.locator("#decoded img").screenshot()
    page.locator("#slider-0 input[type=range]").fill("3")  # as a drag to z0 = 3 would
    after_source = wait_for_new_image(page, "decoded", first)
    assert after_source != first
    page.wait_for_timeout(200)
    assert page.locator("#decoded img").screenshot() != before, "the decoded image must look different"

    screenshot = tmp_path / "explorer.png"
    page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 20_000
    keep = os.environ.get("GENLAB_SCREENSHOT_DIR")  # CI can keep the picture as an artifact
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(screenshot, Path(keep) / "explorer.png")


def wait_for_settled_image(page, element_id: str, quiet_ms: int = 1500) -> str:
    """Wait until the picture has stopped changing for `quiet_ms` (no update is still on its way)."""
    page.wait_for_function(
        "([id, quiet]) => { const image = document.querySelector(`#${id} img`); if (!image || !image.complete) return false;"
        " const now = performance.now(), state = window.__settled ??= {};"
        " if (state[id]?.src !== image.src) { state[id] = {src: image.src, since: now}; return false; }"
        " return now - state[id].since >= quiet; }",
        arg=[element_id, quiet_ms], timeout=60_000, polling=100)
    return image_source(page, element_id)


def text_of(page, element_id: str) -> str:
    return page.locator(f"#{element_id} textarea").input_value()


def test_clicking_the_latent_map_decodes_that_point_and_moves_z_there(page):
    manifold = wait_for_new_image(page, "map-manifold", None)
    box = page.locator("#map-manifold img").bounding_box()
    page.locator("#map-manifold img").click(position={"x": box["width"] * 0.25, "y": box["height"] * 0.75})
    first = wait_for_new_image(page, "map-point", None)
    # The click moves z, and the map is redrawn with its cross there (the sliders' updates may redraw it more
    # than once); click again once it has settled, as a person would: a click on a picture being replaced
    # never reaches the app.
    wait_for_new_image(page, "map-manifold", manifold)
    wait_for_settled_image(page, "map-manifold")
    box = page.locator("#map-manifold img").bounding_box()
    page.locator("#map-manifold img").click(position={"x": box["width"] * 0.8, "y": box["height"] * 0.2})
    assert wait_for_new_image(page, "map-point", first) != first
    clicked = text_of(page, "point-code")
    # z follows the click: its code is the clicked one to the sliders' step (the runs' priors are N(0, I),
    # and the page's first run has fewer components than sliders), and slider z0 shows its first component.
    page.wait_for_function(
        "([clicked]) => { const z = JSON.parse(document.querySelector('#z-code textarea').value || '[]');"
        " const point = JSON.parse(clicked); return z.length === point.length"
        " && z.every((value, k) => Math.abs(value - point[k]) <= 0.006); }", arg=[clicked], timeout=60_000)
    z0 = json.loads(text_of(page, "z-code"))[0]
    assert float(page.locator("#slider-0 input[type=range]").input_value()) == pytest.approx(z0, abs=1e-6)
    assert page.outside_requests == [], "the page must not fetch anything from outside the app"


def test_a_bad_field_in_one_tab_never_breaks_the_run_switch(page):
    """The issue's path: the Samples tab's seed set to -5, then another run picked."""
    page.get_by_role("tab", name="Samples").click()
    page.locator("#sample-seed input").fill("-5")
    page.locator("#sample-seed input").press("Enter")  # refused: an error on the samples alone
    decoded = image_source(page, "decoded")
    page.locator("#run input").click()
    page.get_by_role("option", name="gans/dcgan").click()
    page.wait_for_function("() => document.querySelector('#run-info')?.innerText.includes('dcgan')", timeout=60_000)
    assert wait_for_new_image(page, "decoded", decoded) != decoded  # the decoded z shows the new run's
    assert "no encoder" in page.locator("#run-info").inner_text()
