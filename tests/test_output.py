"""Results rendered for people: data shown verbatim, never cut to a terminal's width."""

from __future__ import annotations

import io

import pyarrow as pa

from lakeinfer.output import render_table


def test_cells_that_look_like_markup_are_printed_verbatim():
    table = pa.table({"v": ["[a=b]"], "w": ["[red]alert[/red]"], "[bold]x[/bold]": [1]})
    out = io.StringIO()
    render_table(table, file=out)
    text = out.getvalue()
    assert "[a=b]" in text
    assert "[red]alert[/red]" in text
    assert "[bold]x[/bold]" in text


def test_output_to_a_file_is_not_folded_at_80_columns():
    number = "1234567890" * 6
    words = "the quick brown fox jumps over the lazy dog " * 2
    table = pa.table({"a": [number], "b": [words.strip()], "c": [number]})
    out = io.StringIO()
    render_table(table, file=out)
    lines = out.getvalue().splitlines()
    assert any(number in line and words.strip() in line for line in lines)
