"""The benchmark chart: the recommendation is named beside the plots, never over the lines."""

from __future__ import annotations

import pytest

from lakeinfer.bench.results import BenchResult

from .test_runner import _level

pytest.importorskip("matplotlib")


def test_the_recommendation_label_sits_in_the_legends_below_the_plots():
    from lakeinfer.bench.plot import figure

    levels = [_level(1, 100), _level(4, 380), _level(16, 400)]
    fig = figure(BenchResult("llm", "m", levels, 4, "best healthy throughput"))
    renderer = fig.canvas.get_renderer() if hasattr(fig.canvas, "get_renderer") else None
    if renderer is None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)
    plots = [ax for ax in fig.axes if ax.get_legend() is not None]
    assert len(plots) == 2
    for ax in plots:
        legend = ax.get_legend()
        assert "recommended: 4" in [t.get_text() for t in legend.get_texts()]
        # the legend is wholly below the plotting area, where no line is drawn
        assert legend.get_window_extent(renderer).y1 < ax.get_window_extent(renderer).y0
        # and no text inside the plotting area names the recommendation
        inside = [t.get_text() for t in ax.texts]
        assert not [t for t in inside if "recommended" in t]
