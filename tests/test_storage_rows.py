"""The one key -> row rule both backends use when leaders have sorted, inserted or deleted rows."""

from __future__ import annotations

import logging

import pytest

from workflow.storage.rows import RowIndex


def test_a_row_that_still_holds_its_key_is_written_where_it_was() -> None:
    index = RowIndex("Cases", ["C-1", "C-2", "C-3"])
    assert index.locate("C-2", 1) == 1


def test_a_moved_row_is_found_by_its_key() -> None:
    index = RowIndex("Cases", ["C-3", "C-1", "C-2"])  # sorted since the read
    assert index.locate("C-2", 1) == 2
    assert index.rows_of("C-1") == [1] and index.key_at(0) == "C-3" and index.key_at(9) == ""


def test_a_gone_row_is_dropped_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    index = RowIndex("Cases", ["C-1", "", "C-3"])
    with caplog.at_level(logging.WARNING):
        assert index.locate("C-2", 1) is None
    assert "'C-2'" in caplog.text and "Cases" in caplog.text


def test_duplicates_keep_the_row_read_else_the_first(caplog: pytest.LogCaptureFixture) -> None:
    index = RowIndex("Checklist", ["A | x", "B | y", "A | x"])
    assert index.locate("A | x", 2) == 2, "the row read still holds the key"
    with caplog.at_level(logging.WARNING):
        assert index.locate("A | x", 1) == 0
    assert "2 rows" in caplog.text


def test_rows_without_a_key_are_never_found_by_key() -> None:
    index = RowIndex("Cases", ["", "C-1"])
    assert index.locate("", 0) is None


def test_a_keyless_tab_writes_at_the_row_while_it_exists() -> None:
    index = RowIndex("Log", ["", "", ""], keyed=False)
    assert index.locate("", 2) == 2
    assert index.locate("", 3) is None
