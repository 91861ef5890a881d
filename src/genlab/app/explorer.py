"""The live explorer: a gradio page over the runs in one folder (`genlab explore [RUNS_DIR | RUN]`).

The page only lays out controls and forwards them to `genlab.app.library.Explorer`, where every
operation is checked and bounded. Every view is drawn by its own event from its own fields, so an
invalid field shows its error on its own view and never stops another view or the run switch.
Every public event has an `api_name`, so `gradio_client` can drive the same operations (see
`api_names()`). A user's bad input is answered with a message and logged as one line, never a
traceback. The server binds 127.0.0.1 unless told otherwise, sends no analytics and loads no web
fonts, so nothing leaves the machine.
"""

import functools
import os
import sys
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
API_NAMES = ("select_run", "rescan_runs", "latent_map", "seed_sliders", "decode", "random_z", "map_click",
             "decode_point", "point_sliders", "interpolate", "random_pair", "interpolate_at", "samples",
             "class_grid", "test_image", "reconstruct")
LOG_PREFIX = "genlab explorer:"


def api_names() -> tuple[str, ...]:
    return API_NAMES


def user_error(message: str) -> gr.Error:
    """A user's bad input: one line in the server log, the message on the page (no traceback anywhere)."""
    print(f"{LOG_PREFIX} refused: {message}", file=sys.stderr, flush=True)
    return gr.Error(message, print_exception=False)


def answers(function: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a user error into gr.Error, which the page shows as a message and the API returns as one."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except GenlabError as error:
            raise user_error(str(error)) from None

    return wrapper


class QuietInput:
    """An input whose own checks (a slider's range, a dropdown's choices) refuse a value as a user error:
    named after the field, one line in the log instead of gradio's traceback."""

    def preprocess(self, payload: Any) -> Any:
        try:
            return super().preprocess(payload)  # type: ignore[misc]
        except gr.Error as error:
            raise user_error(f"{self.label or 'input'}: {error.message}") from None  # type: ignore[attr-defined]


# The page's input components: gradio's own, under the same names (the browser draws them the same way).
class Slider(QuietInput, gr.Slider):
    pass


class Number(QuietInput, gr.Number):
    pass


class Dropdown(QuietInput, gr.Dropdown):
    pass


class Radio(QuietInput, gr.Radio):
    pass


class Checkbox(QuietInput, gr.Checkbox):
    pass


class Image(QuietInput, gr.Image):
    pass


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
            run = Dropdown(names, value=names[0] if names else None, label="run", elem_id="run", scale=4)
            rescan = gr.Button("rescan runs", scale=1)
        info = gr.Markdown(elem_id="run-info")

        with gr.Row():
            with gr.Column(scale=3):
                with gr.Row():
                    seed = Number(0, precision=0, minimum=0, maximum=MAX_SEED, label="seed of z", elem_id="seed")
                    random_z = gr.Button("random z", elem_id="random-z")
                label = Dropdown(choices=[], value=None, label="class", visible=False, elem_id="class")
                gr.Markdown(f"The first {count} components of z, in prior standard deviations from the prior's "
                            "centre; the other components come from the seed.")
                sliders = [Slider(-SLIDER_RANGE, SLIDER_RANGE, value=0.0, step=0.01, label=f"z{k}", elem_id=f"slider-{k}")
                           for k in range(count)]
            with gr.Column(scale=2):
                decoded = gr.Image(type="pil", format="png", label="decoded z", interactive=False, elem_id="decoded")
                code = gr.Textbox(label="z", lines=2, interactive=False, elem_id="z-code")

        with gr.Tab("Latent map"):
            caption = gr.HTML()
            with gr.Row():
                codes_picture = gr.Image(type="pil", format="png", label="codes of test images", interactive=False,
                                         elem_id="map-codes", scale=2)
                manifold_picture = gr.Image(type="pil", format="png", label="decoded grid", interactive=False,
                                            elem_id="map-manifold", scale=2)
                with gr.Column(scale=1):
                    with gr.Row():
                        point_x = Number(0.0, label="map x", elem_id="map-x")
                        point_y = Number(0.0, label="map y")
                    decode_point = gr.Button("decode point")
                    point_picture = gr.Image(type="pil", format="png", label="decoded point", interactive=False,
                                             elem_id="map-point", height=240)
                    point_code = gr.Textbox(label="z", lines=2, interactive=False, elem_id="point-code")

        with gr.Tab("Interpolation"):
            with gr.Row():
                seed_a = Number(1, precision=0, minimum=0, maximum=MAX_SEED, label="seed A")
                seed_b = Number(2, precision=0, minimum=0, maximum=MAX_SEED, label="seed B")
                random_pair = gr.Button("random pair")
                method = Radio(["linear", "spherical"], value="linear", label="path")
            steps = Slider(2, MAX_INTERPOLATION_STEPS, value=8, step=1, label="steps")
            interpolate = gr.Button("interpolate")
            strip = gr.Image(type="pil", format="png", label="from A to B", interactive=False, elem_id="interpolation")
            position = Slider(0.0, 1.0, value=0.5, step=0.01, label="position t along the path")
            position_picture = gr.Image(type="pil", format="png", label="image at t", interactive=False)

        with gr.Tab("Samples"):
            with gr.Row():
                sample_count = Slider(1, MAX_SAMPLES, value=16, step=1, label="samples")
                sample_seed = Number(0, precision=0, minimum=0, maximum=MAX_SEED, label="seed of the samples",
                                     elem_id="sample-seed")
                draw = gr.Button("draw samples")
            samples = gr.Image(type="pil", format="png", label="samples", interactive=False, elem_id="samples")
            with gr.Column(visible=False) as class_section:
                with gr.Row():
                    class_columns = Slider(1, MAX_CLASS_COLUMNS, value=8, step=1, label="codes (columns)")
                    class_button = gr.Button("class grid: one row per class, z shared down each column")
                class_picture = gr.Image(type="pil", format="png", label="class grid", interactive=False)

        with gr.Tab("Reconstruction"):
            encoder_note = gr.Markdown()
            with gr.Column(visible=False) as encoder_section:
                with gr.Row():
                    upload = Image(type="numpy", format="png", sources=["upload", "clipboard"], label="image",
                                      elem_id="upload")
                    with gr.Column():
                        invert = Checkbox(False, label="invert (dark strokes on light paper -> light on dark)")
                        test_index = Number(0, precision=0, minimum=0, label="test image index")
                        load_test = gr.Button("load test image")
                        reconstruct = gr.Button("reconstruct", variant="primary")
                with gr.Row():
                    seen = gr.Image(type="pil", format="png", label="as the model sees it", interactive=False)
                    reconstruction = gr.Image(type="pil", format="png", label="reconstruction", interactive=False,
                                              elem_id="reconstruction")
                recon_code = gr.Textbox(label="code z", lines=2, interactive=False)

        # --- handlers: parse the page's values, call the Explorer, shape the outputs ---------------------
        # Each view is drawn by its own event from its own fields, so an invalid field shows its error on
        # its view alone; after the run or the class changes, `redraw_views` sends each view its own event.
        private: dict[str, Any] = {"api_visibility": "private"}
        map_outputs = [codes_picture, manifold_picture]
        z_outputs = [decoded, code, *map_outputs]

        def marked_map(name, label_value, code_tensor):
            """The map's pictures marked where z falls, or no change where there is no map to mark."""
            summary = explorer.summary(name)
            if not summary.latent or summary.latent_dim < 2:
                return gr.update(), gr.update()
            try:
                codes, manifold = explorer.marked_map(name, label_value, code_tensor)
            except GenlabError:  # the map tab shows its own error; the decoded z stands
                return gr.update(), gr.update()
            return gr.update(value=codes, visible=codes is not None), manifold

        @answers
        def on_decode(name, seed_value, label_value, *values):
            """z from the seed with its first components set by the sliders: decoded, written out, marked on the map."""
            values = values[: explorer.summary(name).sliders]
            picture, code_text = explorer.decode_sliders(name, seed_value, label_value, values)
            _, code_tensor = explorer.slider_code(name, seed_value, values)
            return (picture, code_text, *marked_map(name, label_value, code_tensor))

        @answers
        def on_seed_sliders(name, seed_value, label_value):
            """The sliders moved to the seed's code, and that z decoded (nothing to show without a latent space)."""
            if not explorer.summary(name).latent:
                return (*[gr.update()] * count, None, "", gr.update(), gr.update())
            values = explorer.slider_values(name, seed_value)
            return (*values, *on_decode(name, seed_value, label_value, *values))

        @answers
        def on_latent_map(name, label_value):
            """The map tab: its caption, the codes' scatter (hidden without an encoder) and the decoded grid."""
            summary = explorer.summary(name)
            hidden = gr.update(value=None, visible=False)
            if not summary.latent:
                return "This model has no latent space to map.", hidden, None
            if summary.latent_dim < 2:
                return "A 1-D latent has no map: use the slider.", hidden, None
            codes, manifold, text = explorer.map_pictures(name, label_value)
            sentence, _, swatches = text.partition("<br>")
            sentence += " A click also moves the sliders there; the cross marks the current z."
            if summary.latent_dim > summary.sliders:
                sentence += (f" The sliders hold the first {summary.sliders} of {summary.latent_dim} components and the"
                             " others stay the seed's, so the cross may sit apart from the clicked point.")
            text = sentence + ("<br>" + swatches if swatches else "")
            return text, gr.update(value=codes, visible=codes is not None), manifold

        @answers
        def on_interpolate(name, a, b, steps_value, method_value, position_value, label_value):
            return (explorer.interpolation(name, a, b, steps_value, method_value, label_value),
                    explorer.interpolation_at(name, a, b, position_value, method_value, label_value))

        @answers
        def interpolation_view(name, a, b, steps_value, method_value, position_value, label_value):
            if not explorer.summary(name).latent:
                return None, None
            return on_interpolate(name, a, b, steps_value, method_value, position_value, label_value)

        @answers
        def samples_view(name, count_value, seed_value, label_value):
            return explorer.samples(name, count_value, seed_value, label_value)

        def redraw_views(start, z_view, z_inputs, public=False):
            """After `start` succeeds, each view redrawn by its own event: the map then z (`z_view`, which marks
            z on the map), the interpolation, the samples. `public`: the map and z events are endpoints."""
            map_names = {"api_name": "latent_map"} if public else private
            z_names = {"api_name": z_view.__name__.removeprefix("on_")} if public else private
            start.success(on_latent_map, [run, label], [caption, *map_outputs], **map_names).then(
                z_view, z_inputs, [*sliders, *z_outputs] if z_view is on_seed_sliders else z_outputs, **z_names)
            start.success(interpolation_view, [run, seed_a, seed_b, steps, method, position, label],
                          [strip, position_picture], **private)
            start.success(samples_view, [run, sample_count, sample_seed, label], [samples], **private)

        @answers
        def on_select_run(name):
            """Lay the page out for run `name` (it reads no other field); the views follow by their own events."""
            summary = explorer.summary(name)
            label_value = 0 if summary.conditional else None
            choices = [(text if text == str(k) else f"{k}: {text}", k) for k, text in enumerate(summary.class_names)]
            label_update = gr.update(choices=choices, value=label_value, visible=summary.conditional)
            slider_updates = [gr.update(visible=k < summary.sliders) for k in range(count)]
            note = summary.encoder_note if summary.latent else "This model has no encoder."
            return (summary.text, label_update, *slider_updates,
                    gr.update(visible=summary.conditional and summary.latent), note, gr.update(visible=summary.encoder))

        selected = gr.on([app.load, run.input], on_select_run, [run],
                         [info, label, *sliders, class_section, encoder_note, encoder_section], api_name="select_run")
        redraw_views(selected, on_seed_sliders, [run, seed, label], public=True)

        @answers
        def on_class(name, label_value):
            explorer.label(explorer.library.run(name), label_value)  # checked once, before every view redraws

        redraw_views(label.input(on_class, [run, label], None, **private), on_decode, [run, seed, label, *sliders])

        @answers
        def on_rescan(name):
            found = explorer.library.rescan()
            return gr.update(choices=found, value=name if name in found else (found[0] if found else None))

        rescan.click(on_rescan, [run], [run], api_name="rescan_runs")

        gr.on([slider.input for slider in sliders] + [seed.submit], on_decode, [run, seed, label, *sliders],
              z_outputs, api_name="decode", trigger_mode="always_last", show_progress="hidden")

        @answers
        def on_random_z(name, label_value):
            import random

            new_seed = random.SystemRandom().randrange(MAX_SEED)
            values = explorer.slider_values(name, new_seed)
            return (new_seed, *values, *on_decode(name, new_seed, label_value, *values))

        random_z.click(on_random_z, [run, label], [seed, *sliders, *z_outputs], api_name="random_z")

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
            return round(x, 4), round(y, 4), picture, code_text

        @answers
        def on_decode_point(name, label_value, x, y):
            picture, code_text = explorer.decode_point(name, label_value, x, y)
            return picture, code_text

        @answers
        def on_point_sliders(name, seed_value, label_value, x, y):
            """The sliders moved to map point (x, y), the new z decoded and marked on the map."""
            values = explorer.point_sliders(name, label_value, x, y)
            return (*values, *on_decode(name, seed_value, label_value, *values))

        point_inputs, point_outputs = [run, seed, label, point_x, point_y], [*sliders, *z_outputs]
        clicked = gr.on([codes_picture.select, manifold_picture.select], on_map_click, [run, label],
                        [point_x, point_y, point_picture, point_code], api_name="map_click",
                        trigger_mode="always_last")  # a click while the last one decodes is kept, not dropped
        clicked.success(on_point_sliders, point_inputs, point_outputs, api_name="point_sliders")
        decode_point.click(on_decode_point, [run, label, point_x, point_y], [point_picture, point_code],
                           api_name="decode_point").success(on_point_sliders, point_inputs, point_outputs, **private)

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
        def on_test_image(name, index):
            """A test image into the upload; a conditional model's class selector takes the image's class."""
            array, image_label = explorer.test_image(name, index)
            return array, image_label if explorer.summary(name).conditional else None

        loaded = load_test.click(on_test_image, [run, test_index], [upload, label], api_name="test_image")
        redraw_views(loaded, on_decode, [run, seed, label, *sliders])  # the views follow the (new) class
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
