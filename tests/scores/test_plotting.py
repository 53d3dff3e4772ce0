"""Figures render headless, write valid image files and carry the plotted numbers."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.image import imread

from gato_eval.core.errors import GatoEvalError
from gato_eval.scores.plotting import figure_bytes, plot_task_scores, plot_thresholds, save_figure
from gato_eval.scores.stats import ScoreTable, threshold_curves

TASKS = ["atari-a", "atari-b", "dmc-a", "dmc-b", "babyai-a"]
DOMAINS = ["atari", "atari", "dmc", "dmc", "babyai"]


def curves_for(label, matrix, reps=200):
    table = ScoreTable.from_matrix(label, np.asarray(matrix, float), TASKS, DOMAINS)
    return threshold_curves(table, reps=reps, seed=0)


def lines_by_gid(figure):
    return {
        line.get_gid(): line for axes in figure.axes for line in axes.get_lines() if line.get_gid()
    }


def bands_by_gid(figure):
    return {
        band.get_gid(): band
        for axes in figure.axes
        for band in axes.collections
        if isinstance(band, PolyCollection) and band.get_gid()
    }


def test_one_agent_is_one_axes_with_a_line_per_domain_and_all():
    curves = curves_for("gato", [[0.2, 0.6, 1.0, 1.5, 0.5], [0.4, 0.6, 1.0, 1.7, 0.5]])
    figure = plot_thresholds([curves])
    assert isinstance(figure, Figure) and len(figure.axes) == 1
    lines = lines_by_gid(figure)
    assert set(lines) == {"gato|all", "gato|atari", "gato|dmc", "gato|babyai"}
    x = lines["gato|all"].get_xdata()
    assert x[0] == 0 and x[-1] == pytest.approx(200.0)  # percent of expert
    y = lines["gato|all"].get_ydata()
    # task means 0.3, 0.6, 1.0, 1.6, 0.5: at 50% four tasks, at 100% two (the tie counts).
    assert y[np.isclose(x, 50.0)].item() == 4 and y[np.isclose(x, 100.0)].item() == 2
    assert lines["gato|dmc"].get_ydata()[np.isclose(x, 100.0)].item() == 2
    assert lines["gato|all"].get_label() == "all (5 tasks)"
    assert lines["gato|babyai"].get_label() == "babyai (1 task)"
    assert set(bands_by_gid(figure)) == {f"{gid}|band" for gid in lines}
    notes = " ".join(text.get_text() for text in figure.texts)
    assert "95% stratified bootstrap" in notes and "bootstrap over seeds" in notes


def test_several_agents_get_one_panel_per_domain():
    good = curves_for("gato", [[0.9, 1.0, 1.1, 1.2, 0.8]] * 2)
    weak = curves_for("random", [[0.0, 0.1, 0.0, 0.05, 0.0]] * 2)
    figure = plot_thresholds([good, weak], title="compare")
    visible = [axes for axes in figure.axes if axes.get_visible()]
    assert [axes.get_title() for axes in visible] == ["all", "atari", "dmc", "babyai"]
    lines = lines_by_gid(figure)
    assert {"gato|all", "random|all", "gato|babyai", "random|babyai"} <= set(lines)
    x = lines["gato|all"].get_xdata()
    assert lines["gato|all"].get_ydata()[np.isclose(x, 80.0)].item() == 5
    assert lines["random|all"].get_ydata()[np.isclose(x, 80.0)].item() == 0
    assert figure.get_suptitle() == "compare"
    assert lines["gato|all"].get_label() == "gato (5 tasks, 2 seeds)"


def test_nothing_to_plot_is_refused():
    with pytest.raises(ValueError, match="nothing to plot"):
        plot_thresholds([])


def test_task_bars_carry_scores_intervals_and_unscored_tasks():
    scores = np.array([0.25, 1.1, -0.1])
    figure = plot_task_scores(
        ["dmc-a", "babyai-a", "dmc-b"],
        ["dmc", "babyai", "dmc"],
        scores,
        low=scores - 0.1,
        high=scores + 0.2,
        unscored={"metaworld-x": "expert <= random"},
        unscored_domains={"metaworld-x": "metaworld"},
    )
    (axes,) = [a for a in figure.axes]
    bars = {patch.get_gid(): patch.get_width() for patch in axes.patches if patch.get_gid()}
    assert bars == pytest.approx({"dmc-a": 25.0, "dmc-b": -10.0, "babyai-a": 110.0})
    # grouped by domain, first domain on top: dmc-a, dmc-b, babyai-a, then the unscored task
    labels = [tick.get_text() for tick in axes.get_yticklabels()]
    assert labels == ["dmc-a", "dmc-b", "babyai-a", "metaworld-x"]
    assert any("not scored (expert <= random)" in t.get_text() for t in axes.texts)


@pytest.mark.parametrize("suffix", [".png", ".svg", ".pdf"])
def test_saved_files_are_valid_images(tmp_path, suffix):
    curves = curves_for("gato", [[0.2, 0.6, 1.0, 1.5, 0.5]])
    path = save_figure(plot_thresholds([curves]), tmp_path / "deep" / f"figure{suffix}")
    assert path.exists()
    data = path.read_bytes()
    if suffix == ".png":
        assert data.startswith(b"\x89PNG\r\n\x1a\n")
        pixels = imread(path)
        assert pixels.ndim == 3 and pixels.shape[0] > 300 and pixels.shape[1] > 500
        assert pixels[..., :3].std() > 0.05  # not a blank canvas
    elif suffix == ".svg":
        root = ET.fromstring(data)
        assert root.tag.endswith("svg")
        assert b'id="gato|all"' in data  # the gid survives into the SVG
    else:
        assert data.startswith(b"%PDF") and data.rstrip().endswith(b"%%EOF")


def test_bad_figure_paths_are_one_line_errors(tmp_path):
    figure = plot_task_scores(["dmc-a"], ["dmc"], np.array([0.5]))
    with pytest.raises(GatoEvalError, match=r"must end in \.png, \.pdf, \.svg"):
        save_figure(figure, tmp_path / "figure.jpg")
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(GatoEvalError, match="cannot write"):
        save_figure(figure, blocker / "figure.png")


def test_figure_bytes_for_embedding():
    figure = plot_task_scores(["dmc-a"], ["dmc"], np.array([0.5]))
    assert figure_bytes(figure).startswith(b"\x89PNG")
    assert b"<svg" in figure_bytes(figure, "svg")
