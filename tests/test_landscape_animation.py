"""The Landscape page's Play animation: Plotly frames, Play / Pause buttons and a Plotly slider on the
landscape and loss-space figures (played in the browser, no rerun), and the page in AppTest."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go
import pytest
from streamlit.testing.v1 import AppTest

from dashboard.teaching import charts as toy_charts
from mtlcore import teaching as toy
from mtlcore.weighting import available

PAGES = Path(__file__).resolve().parent.parent / "dashboard" / "app_pages"
STARTS = [(1.0, 2.0), (-3.0, -1.0), (-8.5, 7.5)]


@pytest.fixture(autouse=True)
def _one_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MTL_STANDBY", "0")
    monkeypatch.setenv("MTL_TOY_WORKERS", "1")


@pytest.fixture(scope="module")
def runs() -> list[toy.Trajectories]:
    return toy.simulate(["mgda", "ew", "nash_mtl"], STARTS, steps=1500, imbalance=0.1, use_cache=False)


def figures(runs: list[toy.Trajectories], upto: int) -> list[tuple[go.Figure, str]]:
    order = available()
    return [(toy_charts.landscape_figure(runs, upto, 0.1, order), "points"),
            (toy_charts.loss_space_figure(runs, upto, 0.1, order), "losses")]


def dot_traces(fig: go.Figure) -> list[int]:
    """The traces the frames restyle (the same list in every frame)."""
    lists = {tuple(f.traces) for f in fig.frames}
    assert len(lists) == 1
    return list(lists.pop())


def frame_xy(frame: go.Frame, k: int) -> np.ndarray:
    return np.column_stack([frame.data[k].x, frame.data[k].y])


@pytest.mark.parametrize("upto", [1000, 377, 0])
def test_frames_span_the_run_and_end_at_the_final_points(runs: list[toy.Trajectories], upto: int) -> None:
    for fig, kind in figures(runs, upto):
        frames = fig.frames
        assert 2 <= len(frames) <= toy_charts.MAX_FRAMES
        assert len(frames) <= toy_charts.frame_count(len(runs))
        ids = dot_traces(fig)
        # one dot trace per method and panel, in the order of the runs, each a markers trace of that method
        assert len(ids) == len(runs) * (3 if kind == "points" else 1)
        for i, t in enumerate(ids):
            run = runs[i % len(runs)]
            assert fig.data[t].mode == "markers" and fig.data[t].name == run.method
            values = getattr(run, kind)
            # the first frame holds the starts, the last the final points (to the 6 digits frames carry)
            np.testing.assert_allclose(frame_xy(frames[0], i), values[:, 0], rtol=0, atol=1e-5 * np.abs(values).max())
            np.testing.assert_allclose(frame_xy(frames[-1], i), values[:, -1], rtol=0,
                                       atol=1e-5 * np.abs(values).max())
            # the figure opens with the dots at the page's step
            np.testing.assert_array_equal(np.column_stack([fig.data[t].x, fig.data[t].y]),
                                          values[:, upto].astype(np.float32))
        names = [f.name for f in frames]
        assert len(set(names)) == len(names)


def test_play_pause_and_slider_drive_the_frames(runs: list[toy.Trajectories]) -> None:
    upto = 377
    for fig, _ in figures(runs, upto):
        (menu,) = fig.layout.updatemenus
        labels = [b.label for b in menu.buttons]
        assert any("Play" in label for label in labels) and any("Pause" in label for label in labels)
        play = next(b for b in menu.buttons if "Play" in b.label)
        assert play.method == "animate" and play.args[0] is None and play.args[1]["fromcurrent"] is True
        assert play.args[1]["frame"]["redraw"] is False  # dots only: no full redraw per frame
        (slider,) = fig.layout.sliders
        assert [s.args[0][0] for s in slider.steps] == [f.name for f in fig.frames]
        assert all(s.method == "animate" for s in slider.steps)
        # the slider opens at the page's step, which is one of the frames
        assert fig.frames[slider.active].name == f"step {int(runs[0].steps[upto])}"


def test_figures_with_frames_pass_plotly_validation(runs: list[toy.Trajectories]) -> None:
    for fig, _ in figures(runs, 500):
        again = go.Figure(fig.to_dict())  # full validation of every property, frames and controls included
        assert len(again.frames) == len(fig.frames)


def test_frame_records_are_bounded_and_keep_start_end_and_step() -> None:
    for n, upto, most in [(1001, 500, 60), (1001, 333, 30), (1001, 0, 20), (1001, 1000, 60), (12, 5, 60), (2, 1, 60)]:
        rec = toy_charts.frame_records(n, upto, most)
        assert rec.size <= min(most, n)
        assert rec[0] == 0 and rec[-1] == n - 1 and upto in rec
        assert np.all(np.diff(rec) > 0)
    gaps = np.diff(toy_charts.frame_records(1001, 0, 30))
    assert gaps.max() - gaps.min() <= 1  # evenly spaced
    assert toy_charts.frame_records(0, 0).size == 0
    assert toy_charts.frame_count(1) == toy_charts.MAX_FRAMES
    assert toy_charts.frame_count(5) == toy_charts.FRAME_TRACES // 20
    assert toy_charts.frame_count(40) == toy_charts.MIN_FRAMES


def test_paths_go_on_faint_after_the_step(runs: list[toy.Trajectories]) -> None:
    fig = toy_charts.loss_space_figure(runs, 377, 0.1, available())
    rest = [t for t in fig.data if (t.name or "").endswith("(rest of the run)")]
    assert len(rest) == len(runs) and all(t.opacity < 0.5 and t.hoverinfo == "skip" for t in rest)
    # every start's rest, split by gaps, from the step to the final point
    x = np.asarray(rest[0].x, dtype=np.float64)
    assert np.isnan(x).sum() == len(STARTS) - 1
    ends = np.asarray(rest[0].y, dtype=np.float64)[~np.isnan(x)]
    assert np.isclose(ends[-1], runs[0].losses[-1, -1, 1], rtol=1e-6)
    full = toy_charts.loss_space_figure(runs, 1000, 0.1, available())
    assert not [t for t in full.data if (t.name or "").endswith("(rest of the run)")]


def test_caption_says_how_the_run_is_downsampled(runs: list[toy.Trajectories]) -> None:
    text = toy_charts.animation_caption(runs, 377)
    n = toy_charts.frame_records(1001, 377, toy_charts.frame_count(len(runs))).size
    assert f"{n} frames" in text and "1,001 recorded positions" in text and "Play" in text
    assert toy_charts.animation_caption([], 0) == ""


# -- the page --------------------------------------------------------------------------------------------
def app() -> AppTest:
    entry = "\n".join([
        "import streamlit as st",
        f"st.navigation([st.Page(r'{PAGES / 'landscape'}.py', title='landscape', default=True)]).run()",
    ])
    return AppTest.from_string(entry, default_timeout=120)


def specs(at: AppTest) -> dict[str, dict[str, Any]]:
    return {c.key: json.loads(c.proto.spec) for c in at.get("plotly_chart")}


def test_page_sends_the_animation_with_both_charts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MTL_CACHE", str(tmp_path))
    at = app().run()
    at.multiselect(key="toy_methods").set_value(["mgda", "pcgrad"])
    at.number_input(key="toy_steps").set_value(200)
    at.run()
    at.button(key="toy_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    charts = specs(at)
    assert set(charts) == {"toy_landscape", "toy_loss_space"}
    for spec in charts.values():
        assert 2 <= len(spec["frames"]) <= toy_charts.MAX_FRAMES
        buttons = spec["layout"]["updatemenus"][0]["buttons"]
        assert [b["method"] for b in buttons] == ["animate", "animate"]
        assert "Play" in buttons[0]["label"] and "Pause" in buttons[1]["label"]
        assert len(spec["layout"]["sliders"][0]["steps"]) == len(spec["frames"])
    assert any("Play" in c.value and "frames" in c.value for c in at.caption)
    # the page's own step slider still redraws the figures (opening the animation at its step)
    at.slider(key="toy_step_200").set_value(100).run()
    assert not at.exception
    spec = specs(at)["toy_landscape"]
    active = spec["layout"]["sliders"][0]["active"]
    assert spec["frames"][active]["name"] == "step 100"


# -- the contours as a raster ------------------------------------------------------------------------------
def decode_png(data: bytes) -> np.ndarray:
    from PIL import Image

    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG" and image.mode == "RGB"
    return np.asarray(image)


def test_png_bytes_is_a_valid_png_of_the_image() -> None:
    rgb = np.random.default_rng(0).integers(0, 256, size=(37, 53, 3), dtype=np.uint8)
    np.testing.assert_array_equal(decode_png(toy_charts.png_bytes(rgb)), rgb)


def test_contour_image_colours_the_range_and_draws_the_levels() -> None:
    x = np.linspace(0.0, 0.99, 200)
    z = np.tile(x, (50, 1))  # rises along x1 (columns); the same on every row
    z[-1] = 0.0  # the last row (highest x2) is flat at the minimum: it becomes the top row of the picture
    img = toy_charts.contour_image(z).astype(int)
    assert img.shape == (50, 200, 3)
    stops = [p for p, _ in toy_charts.CONTOUR_SCALE]
    colours = np.array([[int(c[i:i + 2], 16) for i in (1, 3, 5)] for _, c in toy_charts.CONTOUR_SCALE])
    np.testing.assert_array_equal(img[10, 0], colours[0])  # the minimum takes the scale's first colour
    np.testing.assert_array_equal(img[10, -1], colours[-1])  # the maximum its last
    assert (img[0] == colours[0]).all()  # the flat top row (x2 highest): one colour, no line
    # a line wherever a level (a multiple of the round step, 0.05 here) falls between neighbours
    step = toy_charts._level_step(0.99)
    assert step == 0.05
    scale = np.stack([np.interp(x / 0.99, stops, colours[:, k]) for k in range(3)], axis=-1)
    on_line = np.abs(img[10] - np.rint(scale)).max(axis=1) > 1
    crossings = np.flatnonzero(np.diff(np.floor(x / step)) != 0) + 1
    np.testing.assert_array_equal(np.flatnonzero(on_line), crossings)
    assert len(crossings) == 19
    (grey, alpha) = toy_charts.CONTOUR_LINE
    np.testing.assert_allclose(img[10, crossings], scale[crossings] * (1 - alpha) + np.array(grey) * alpha, atol=0.51)


def test_landscape_draws_its_contours_as_images_that_frames_leave_alone(runs: list[toy.Trajectories]) -> None:
    fig = toy_charts.landscape_figure(runs, 500, 0.1, available())
    assert not [t for t in fig.data if t.type != "scatter"]  # only scatter traces: all survive a frame
    images = fig.layout.images
    assert [im.xref for im in images] == ["x", "x2", "x3"] and [im.yref for im in images] == ["y", "y2", "y3"]
    assert all(im.layer == "below" and im.source.startswith("data:image/png;base64,") for im in images)
    # each raster covers the axes' range exactly (its pixels centred on the grid)
    for im, axis in zip(images, (fig.layout.xaxis, fig.layout.xaxis2, fig.layout.xaxis3)):
        lo, hi = axis.range
        assert im.x < lo and im.x + im.sizex > hi and im.sizex - (hi - lo) < 0.1
    assert all(set(f.traces) <= {i for i, t in enumerate(fig.data) if t.mode == "markers"} for f in fig.frames)
    # the picture is L1, L2 and their mean on that window
    import base64

    lo, hi = fig.layout.xaxis.range
    axis = np.linspace(lo, hi, toy_charts.BACKGROUND_PX)
    losses = toy.loss_grid(axis, axis, 0.1)
    for im, z in zip(images, (losses[..., 0], losses[..., 1], losses.mean(axis=-1))):
        picture = decode_png(base64.b64decode(im.source.split(",", 1)[1]))
        np.testing.assert_array_equal(picture, toy_charts.contour_image(z))


def _named_colours(node: Any) -> list[str]:
    """Every #rrggbb colour a figure names for its lines, markers, buttons and slider (not its
    template's: Streamlit's placeholders, which its chart theme replaces in the browser)."""
    out: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "template":
                continue
            if key in ("color", "bgcolor", "bordercolor", "arrowcolor") and isinstance(value, str) \
                    and value.startswith("#") and len(value) == 7:
                out.append(value)
            else:
                out += _named_colours(value)
    elif isinstance(node, list):
        for value in node:
            out += _named_colours(value)
    return out


def test_on_a_dark_page_no_chart_draws_in_colours_that_vanish(runs: list[toy.Trajectories]) -> None:
    """The Pareto set, start crosses, every method's colour, the Play / Pause buttons and the slider:
    readable on the dark theme's background (luminance at least 0.12), as they are on the light one."""
    from dashboard.teaching import ink

    order = available()
    grads = toy_charts.gradients_from_angles([0.0, 130.0], [1.0, 2.0])
    every = {name: np.array([1.0, 0.5]) for name in order}
    light = [toy_charts.landscape_figure(runs, 500, 0.1, order), toy_charts.loss_space_figure(runs, 500, 0.1, order),
             toy_charts.conflict_figure(grads, every, order)]
    dark = [toy_charts.landscape_figure(runs, 500, 0.1, order, dark=True),
            toy_charts.loss_space_figure(runs, 500, 0.1, order, dark=True),
            toy_charts.conflict_figure(grads, every, order, dark=True)]
    texts = ("button_background", "rail", "dot_outline")  # backgrounds: dark on purpose
    backgrounds = {getattr(ink.DARK, f) for f in texts}
    for fig in dark:
        drawn = [c for c in _named_colours(fig.to_plotly_json()) if c not in backgrounds]
        assert drawn and all(ink._luminance(c) >= 0.12 for c in drawn), sorted(set(drawn))
    assert any(ink._luminance(c) < 0.12 for fig in light for c in _named_colours(fig.to_plotly_json()))
    assert ink.readable("#4e79a7", True) == "#4e79a7" and ink.readable("#000080", False) == "#000080"
    lifted = ink.readable("#000080", True)
    assert ink._luminance(lifted) >= 0.12 and int(lifted[5:7], 16) > int(lifted[1:3], 16)  # still blue
