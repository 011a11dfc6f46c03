"""Result pages as the grid gets them: bounds, types and values."""

from __future__ import annotations

import pyarrow as pa
import pytest

from lakeinfer.ui.grid import page


def test_grid_pages_are_bounded():
    table = pa.table({"x": list(range(5))})
    assert page(table, 3, 10)["rows"] == [[3], [4]]
    assert page(table, 0, 5000)["limit"] == 1000
    with pytest.raises(ValueError, match="offset"):
        page(table, -1, 10)


def test_map_values_read_as_objects():
    table = pa.table(
        {"m": pa.array([[("a", 1), ("b", None)], None], pa.map_(pa.string(), pa.int64()))}
    )
    result = page(table)
    assert result["columns"] == [{"name": "m", "type": "MAP<STRING,BIGINT>"}]
    assert result["rows"] == [[{"a": 1, "b": None}], [None]]
