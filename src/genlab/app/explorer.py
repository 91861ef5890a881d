"""The live explorer: a gradio page over the runs in one folder (`genlab explore [RUNS_DIR | RUN]`).

The page only lays out controls and forwards them to `genlab.app.library.Explorer`, where every
operation is checked and bounded. Every event has an `api_name`, so `gradio_client` can drive the
same operations (see `api_names()`). The server binds 127.0.0.1 unless told otherwise, sends no
analytics and loads no web fonts, so nothing leaves the machine.
"""

import functools
import os
from pathlib import Path
from typing import Any, Callable

# gradio reads this when it is imported: it must be set first (also for `import genlab.app.explorer`).
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"

import gradio as gr  # noqa: E402

from genlab.app.library import (  # noqa: E402
    MAX_CLASS_COLUMNS,
    MAX_INTERPOLATION_STEPS,
    MAX_SAMPLES,
    MAX_SEED,
    SLIDER_RANGE,
    Explorer,
    RunLibrary,
)
from genlab.errors import GenlabError  # noqa: E402

# The public endpoints, in the order the page defines them.
API_NAMES = ("select_run", "set_class", "rescan_runs", "decode", "random_z", "map_click", "decode_point", "interpolate",
             "random_pair", "interpolate_at", "samples", "class_grid", "test_image", "reconstruct")


def api_names() -> tuple[str, ...]:
    return API_NAMES


def answers(function: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a user error into gr.Error, which the page shows as a message and the API returns as one."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except GenlabError as error:
            raise gr.Error(str(error)) from None

    return wrapper


def local_theme() -> gr.themes.Base:
    """The default look with system fonts: the page fetches nothing from the internet."""
    return gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"],
                             font_mono=["ui-monospace", "SFMono-Regular", "monospace"])


def build_app(explorer: Explorer) -> gr.Blocks:
    """The explorer page for the runs of `explorer.library`."""
    count = explorer.components
    names = explorer.library.names()
    # Every image the page shows is a file in gradio's cache: files older than an hour are deleted hourly.
    with gr.Blocks(title="genlab explorer", analytics_enabled=False, delete_cache=(3600, 3600)) as app:
        gr.Markdown(f"## genlab explorer\nRuns under `{explorer.library.given_root}`.")
        with gr.Row():
            run = gr.Dropdown(names, value=names[0] if names else None, label="run", elem_id="run", scale=4)
            rescan = gr.Button("rescan runs", scale=1)
        info = gr.Markdown(elem_id="run-info")

        with gr.Row():
            with gr.Column(scale=3):
                with gr.Row():
                    seed = gr.Number(0, precision=0, minimum=0, maximum=MAX_SEED, label="seed of z", elem_id="seed")
                    random_z = gr.Button("random z", elem_id="random-z")
                label = gr.Dropdown(choices=[], value=None, label="class", visible=False, elem_id="class")
                gr.Markdown(f"The first {count} components of z, in prior standard deviations from the prior's "
                            "centre; the other components come from the seed.")
                sliders = [gr.Slider(-SLIDER_RANGE, SLIDER_RANGE, value=0.0, step=0.05, label=f"z{k}", elem_id=f"slider-{k}")
                           for k in range(count)]
            with gr.Column(scale=2):
                decoded = gr.Image(type="pil", format="png", label="decoded z", interactive=False, elem_id="decoded")
                code = gr.Textbox(label="z", lines=2, interactive=False)

        with gr.Tab("Latent map"):
            caption = gr.HTML()
            with gr.Row():
                codes_picture = gr.Image(type="pil", format="png", label="codes of test images", interactive=False,
                                         elem_id="map-codes", scale=2)
                manifold_picture = gr.Image(type="pil", format="png", label="decoded grid", interactive=False,
                                            elem_id="map-manifold", scale=2)
                with gr.Column(scale=1):
                    with gr.Row():
                        point_x = gr.Number(0.0, label="map x")
                        point_y = gr.Number(0.0, label="map y")
                    decode_point = gr.Button("decode point")
                    point_picture = gr.Image(type="pil", format="png", label="decoded point", interactive=False,
                                             elem_id="map-point", height=240)
                    point_code = gr.Textbox(label="z", lines=2, interactive=False)

        with gr.Tab("Interpolation"):
            with gr.Row():
                seed_a = gr.Number(1, precision=0, minimum=0, maximum=MAX_SEED, label="seed A")
                seed_b = gr.Number(2, precision=0, minimum=0, maximum=MAX_SEED, label="seed B")
                random_pair = gr.Button("random pair")
                method = gr.Radio(["linear", "spherical"], value="linear", label="path")
            steps = gr.Slider(2, MAX_INTERPOLATION_STEPS, value=8, step=1, label="steps")
            interpolate = gr.Button("interpolate")
            strip = gr.Image(type="pil", format="png", label="from A to B", interactive=False, elem_id="interpolation")
            position = gr.Slider(0.0, 1.0, value=0.5, step=0.01, label="position t along the path")
            position_picture = gr.Image(type="pil", format="png", label="image at t", interactive=False)

        with gr.Tab("Samples"):
            with gr.Row():
                sample_count = gr.Slider(1, MAX_SAMPLES, value=16, step=1, label="samples")
                sample_seed = gr.Number(0, precision=0, minimum=0, maximum=MAX_SEED, label="seed")
                draw = gr.Button("draw samples")
            samples = gr.Image(type="pil", format="png", label="samples", interactive=False, elem_id="samples")
            with gr.Column(visible=False) as class_section:
                with gr.Row():
                    class_columns = gr.Slider(1, MAX_CLASS_COLUMNS, value=8, step=1, label="codes (columns)")
                    class_button = gr.Button("class grid: one row per class, z shared down each column")
                class_picture = gr.Image(type="pil", format="png", label="class grid", interactive=False)

        with gr.Tab("Reconstruction"):
            encoder_note = gr.Markdown()
            with gr.Column(visible=False) as encoder_section:
                with gr.Row():
                    upload = gr.Image(type="numpy", format="png", sources=["upload", "clipboard"], label="image",
                                      elem_id="upload")
                    with gr.Column():
                        invert = gr.Checkbox(False, label="invert (dark strokes on light paper -> light on dark)")
                        test_index = gr.Number(0, precision=0, minimum=0, label="test image index")
                        load_test = gr.Button("load test image")
                        reconstruct = gr.Button("reconstruct", variant="primary")
                with gr.Row():
                    seen = gr.Image(type="pil", format="png", label="as the model sees it", interactive=False)
                    reconstruction = gr.Image(type="pil", format="png", label="reconstruction", interactive=False,
                                              elem_id="reconstruction")
                recon_code = gr.Textbox(label="code z", lines=2, interactive=False)

        # --- handlers: parse the page's values, call the Explorer, shape the outputs ---------------------
        # Everything that depends on the run's class selector (and the seeds and sliders), in this order.
        view_inputs = [seed, *sliders, seed_a, seed_b, steps, method, position, sample_count, sample_seed]
        view_outputs = [decoded, code, caption, codes_picture, manifold_picture, strip, position_picture, samples]

        def latent_views(name, label_value, seed_value, *rest):
            """The decoded z, the latent map, the interpolation and the samples of a run for one class."""
            values, (seed_a_value, seed_b_value, steps_value, method_value, position_value, count_value,
                     sample_seed_value) = rest[:count], rest[count:]
            summary = explorer.summary(name)
            picture = code_text = strip_picture = at_picture = codes = manifold = None
            map_text = "This model has no latent space to map."
            if summary.latent:
                picture, code_text = explorer.decode_sliders(name, seed_value, label_value, values[: summary.sliders])
                strip_picture = explorer.interpolation(name, seed_a_value, seed_b_value, steps_value, method_value, label_value)
                at_picture = explorer.interpolation_at(name, seed_a_value, seed_b_value, position_value, method_value, label_value)
                if summary.latent_dim >= 2:
                    codes, manifold, map_text = explorer.map_pictures(name, label_value)
                else:
                    map_text = "A 1-D latent has no map: use the slider."
            grid = explorer.samples(name, count_value, sample_seed_value, label_value)
            return (picture, code_text, map_text, gr.update(value=codes, visible=codes is not None), manifold,
                    strip_picture, at_picture, grid)

        @answers
        def on_select_run(name, seed_value, *rest):
            summary = explorer.summary(name)
            label_value = 0 if summary.conditional else None
            choices = [(text if text == str(k) else f"{k}: {text}", k) for k, text in enumerate(summary.class_names)]
            label_update = gr.update(choices=choices, value=label_value, visible=summary.conditional)
            values = explorer.slider_values(name, seed_value) if summary.latent else [0.0] * count
            slider_updates = [gr.update(visible=k < summary.sliders, value=values[k]) for k in range(count)]
            views = latent_views(name, label_value, seed_value, *values, *rest[count:])
            note = summary.encoder_note if summary.latent else "This model has no encoder."
            return (summary.text, label_update, *slider_updates, *views,
                    gr.update(visible=summary.conditional and summary.latent), note, gr.update(visible=summary.encoder))

        gr.on([app.load, run.input], on_select_run, [run, *view_inputs],
              [info, label, *sliders, *view_outputs, class_section, encoder_note, encoder_section], api_name="select_run")
        label.input(answers(latent_views), [run, label, *view_inputs], view_outputs, api_name="set_class")

        @answers
        def on_rescan(name):
            found = explorer.library.rescan()
            return gr.update(choices=found, value=name if name in found else (found[0] if found else None))

        rescan.click(on_rescan, [run], [run], api_name="rescan_runs")

        @answers
        def on_decode(name, seed_value, label_value, *values):
            return explorer.decode_sliders(name, seed_value, label_value, values[: explorer.summary(name).sliders])

        gr.on([slider.input for slider in sliders] + [seed.submit], on_decode,
              [run, seed, label, *sliders], [decoded, code], api_name="decode", trigger_mode="always_last",
              show_progress="hidden")

        @answers
        def on_random_z(name, label_value):
            import random

            new_seed = random.SystemRandom().randrange(MAX_SEED)
            values = explorer.slider_values(name, new_seed)
            picture, code_text = explorer.decode_sliders(name, new_seed, label_value, values[: explorer.summary(name).sliders])
            return (new_seed, *values, picture, code_text)

        random_z.click(on_random_z, [run, label], [seed, *sliders, decoded, code], api_name="random_z")

        @answers
        def on_map_click(name, label_value, event: gr.EventData):
            # The page sends the clicked pixel as the event's `index`, [column, row] of the picture; an API
            # client sends no event data (gr.EventData, unlike gr.SelectData, tolerates that).
            try:
                index = event.index
            except (AttributeError, TypeError):
                index = None
            if not isinstance(index, (list, tuple)) or len(index) != 2:
                raise GenlabError("map_click needs a click on the map's pictures; API clients call "
                                  "decode_point with map coordinates x, y instead")
            x, y = explorer.map_click(name, label_value, index[0], index[1])
            picture, code_text = explorer.decode_point(name, label_value, x, y)
            codes, _, _ = explorer.map_pictures(name, label_value, marker=(x, y))
            return round(x, 4), round(y, 4), picture, code_text, gr.update(value=codes, visible=codes is not None)

        gr.on([codes_picture.select, manifold_picture.select], on_map_click, [run, label],
              [point_x, point_y, point_picture, point_code, codes_picture], api_name="map_click")

        @answers
        def on_decode_point(name, label_value, x, y):
            picture, code_text = explorer.decode_point(name, label_value, x, y)
            return picture, code_text

        decode_point.click(on_decode_point, [run, label, point_x, point_y], [point_picture, point_code],
                           api_name="decode_point")

        @answers
        def on_interpolate(name, a, b, steps_value, method_value, position_value, label_value):
            return (explorer.interpolation(name, a, b, steps_value, method_value, label_value),
                    explorer.interpolation_at(name, a, b, position_value, method_value, label_value))

        gr.on([interpolate.click, steps.release, method.input, seed_a.submit, seed_b.submit], on_interpolate,
              [run, seed_a, seed_b, steps, method, position, label], [strip, position_picture], api_name="interpolate")

        @answers
        def on_random_pair(name, steps_value, method_value, position_value, label_value):
            import random

            chooser = random.SystemRandom()
            a, b = chooser.randrange(MAX_SEED), chooser.randrange(MAX_SEED)
            return (a, b, *on_interpolate(name, a, b, steps_value, method_value, position_value, label_value))

        random_pair.click(on_random_pair, [run, steps, method, position, label], [seed_a, seed_b, strip, position_picture],
                          api_name="random_pair")

        position.input(answers(explorer.interpolation_at), [run, seed_a, seed_b, position, method, label],
                       [position_picture], api_name="interpolate_at", trigger_mode="always_last", show_progress="hidden")

        gr.on([draw.click, sample_seed.submit], answers(explorer.samples), [run, sample_count, sample_seed, label],
              [samples], api_name="samples")
        class_button.click(answers(explorer.class_grid), [run, class_columns, sample_seed], [class_picture],
                           api_name="class_grid")

        @answers
        def on_test_image(name, index, *view_values):
            array, image_label = explorer.test_image(name, index)
            if not explorer.summary(name).conditional:
                return (array, None, *[gr.update()] * len(view_outputs))
            # The class selector takes the image's class, and every view of that class follows.
            return (array, image_label, *latent_views(name, image_label, *view_values))

        load_test.click(on_test_image, [run, test_index, *view_inputs], [upload, label, *view_outputs],
                        api_name="test_image")
        gr.on([reconstruct.click, upload.upload], answers(explorer.reconstruct), [run, upload, label, invert],
              [seen, reconstruction, recon_code], api_name="reconstruct")
    return app


def launch_explorer(path: str | Path = "runs", host: str = "127.0.0.1", port: int = 7860, components: int = 8,
                    block: bool = True) -> gr.Blocks:
    """Start the explorer on the runs under `path` at http://host:port; `block=False` returns at once
    (close it with `.close()`)."""
    library = RunLibrary(path)
    if not library.names():
        raise GenlabError(f"no runs under {library.root}; train one first, e.g. "
                          f"`genlab train vae --set latent_dim=2 --out {library.root}/vae`")
    if not 1 <= port <= 65535:
        raise GenlabError(f"--port must be in [1, 65535], got {port}")
    app = build_app(Explorer(library, components))
    app.queue(default_concurrency_limit=1)
    print(f"genlab explorer: {len(library.names())} runs under {library.root} -> http://{host}:{port}", flush=True)
    app.launch(server_name=host, server_port=port, share=False, prevent_thread_lock=not block, quiet=True,
               ssr_mode=False, show_error=True, theme=local_theme(), footer_links=["api"])
    return app
