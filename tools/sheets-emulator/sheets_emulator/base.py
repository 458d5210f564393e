"""Constants of the emulated API and its errors, in Google's JSON shape."""

from __future__ import annotations

import datetime as dt
from typing import Any

DEFAULT_ROW_COUNT = 1000
DEFAULT_COLUMN_COUNT = 26
CELL_LIMIT = 10_000_000
SERIAL_EPOCH = dt.datetime(1899, 12, 30)

DEFAULT_FORMAT: dict[str, Any] = {
    "backgroundColor": {"red": 1, "green": 1, "blue": 1},
    "padding": {"top": 2, "right": 3, "bottom": 2, "left": 3},
    "verticalAlignment": "BOTTOM",
    "wrapStrategy": "OVERFLOW_CELL",
    "textFormat": {
        "foregroundColor": {},
        "fontFamily": "arial,sans,sans-serif",
        "fontSize": 10,
        "bold": False,
        "italic": False,
        "strikethrough": False,
        "underline": False,
        "foregroundColorStyle": {"rgbColor": {}},
    },
    "backgroundColorStyle": {"rgbColor": {"red": 1, "green": 1, "blue": 1}},
}

STATUS_NAMES = {
    400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
    408: "DEADLINE_EXCEEDED", 409: "ABORTED", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL",
    501: "UNIMPLEMENTED", 502: "UNAVAILABLE", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED",
}
STATUS_MESSAGES = {
    400: "Request contains an invalid argument.",
    401: "Request had invalid authentication credentials. Expected OAuth 2 access token, login "
         "cookie or other valid authentication credential.",
    403: "The caller does not have permission",
    404: "Requested entity was not found.",
    408: "The request timed out.",
    409: "The operation was aborted.",
    500: "Internal error encountered.",
    502: "The service is currently unavailable.",
    503: "The service is currently unavailable.",
    504: "Deadline expired before operation could complete.",
}
ERROR_TEXT = {
    "ERROR": "#ERROR!", "NULL_VALUE": "#NULL!", "DIVIDE_BY_ZERO": "#DIV/0!", "VALUE": "#VALUE!",
    "REF": "#REF!", "NAME": "#NAME?", "NUM": "#NUM!", "N_A": "#N/A", "LOADING": "Loading...",
}
VALUE_KEYS = ("numberValue", "stringValue", "boolValue", "formulaValue", "errorValue")
WRITABLE_CELL_FIELDS = (
    "userEnteredValue", "userEnteredFormat", "note", "hyperlink", "textFormatRuns",
    "dataValidation", "pivotTable", "dataSourceTable", "dataSourceFormula",
)
READ_ONLY_CELL_FIELDS = ("effectiveValue", "formattedValue", "effectiveFormat")
DATETIME_TYPES = ("DATE", "TIME", "DATE_TIME")
# Request kinds Google knows; the ones without a handler below answer 501 (not 400).
GOOGLE_REQUEST_KINDS = frozenset({
    "updateSpreadsheetProperties", "updateSheetProperties", "updateDimensionProperties",
    "updateNamedRange", "repeatCell", "addNamedRange", "deleteNamedRange", "addSheet",
    "deleteSheet", "autoFill", "cutPaste", "copyPaste", "mergeCells", "unmergeCells",
    "updateBorders", "updateCells", "addFilterView", "appendCells", "clearBasicFilter",
    "deleteDimension", "deleteEmbeddedObject", "deleteFilterView", "duplicateFilterView",
    "duplicateSheet", "findReplace", "insertDimension", "insertRange", "moveDimension",
    "updateEmbeddedObjectPosition", "pasteData", "textToColumns", "updateFilterView",
    "deleteRange", "appendDimension", "addConditionalFormatRule", "updateConditionalFormatRule",
    "deleteConditionalFormatRule", "sortRange", "setDataValidation", "setBasicFilter",
    "addProtectedRange", "updateProtectedRange", "deleteProtectedRange", "autoResizeDimensions",
    "addChart", "updateChartSpec", "updateBanding", "addBanding", "deleteBanding",
    "createDeveloperMetadata", "updateDeveloperMetadata", "deleteDeveloperMetadata",
    "randomizeRange", "addDimensionGroup", "deleteDimensionGroup", "updateDimensionGroup",
    "trimWhitespace", "deleteDuplicates", "updateEmbeddedObjectBorder", "addSlicer",
    "updateSlicerSpec", "addDataSource", "updateDataSource", "deleteDataSource",
    "refreshDataSource", "cancelDataSourceRefresh", "addTable", "updateTable", "deleteTable",
})


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------


class SheetsApiError(Exception):
    """An error reply in Google's JSON shape {"error": {code, message, status[, details]}}."""

    def __init__(self, code: int, message: str, status: str | None = None,
                 details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status or STATUS_NAMES.get(code, "UNKNOWN")
        self.details = details

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message, "status": self.status}
        if self.details:
            error["details"] = self.details
        return {"error": error}


class _Invalid(Exception):
    """A batchUpdate request is invalid; the message lacks the "Invalid requests[i].kind: " prefix."""


def _bad(message: str, details: list[dict[str, Any]] | None = None) -> SheetsApiError:
    return SheetsApiError(400, message, "INVALID_ARGUMENT", details)


