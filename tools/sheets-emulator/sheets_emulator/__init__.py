"""An in-memory Google Sheets API v4 server, so product tests run offline with the REAL gspread.

Modules: ``server`` (SheetsEmulator, the HTTP layer), ``batch`` (batchUpdate requests),
``values_api`` (values.*), ``state`` (spreadsheets in memory, grid data), ``cells`` (typed input,
formulas, formatting), ``masks`` (field masks), ``a1`` (A1 notation), ``base`` (constants, errors).
Run one by hand with ``python -m sheets_emulator --port 8089 --spreadsheet-id try-it``.

Why: the worker talks to Google through gspread's HTTP client; mocking gspread would test our
guesses about it. This emulator instead answers the HTTP requests gspread really sends (routed
here by ``workflow.storage.google.EmulatorSession``), keeps the spreadsheet in memory, and
lets a test play the other actors: Google Forms appending responses, a leader sorting or
inserting rows, Google's quota and outage errors.

Verified against recorded Google traffic (burnash/gspread ``tests/cassettes``, 2021-2023) and the
API reference:

* spreadsheets.get: ``spreadsheetId``, ``properties`` (title, locale, autoRecalc, timeZone,
  defaultFormat), ``sheets[].properties`` {sheetId, title, index, sheetType, gridProperties
  {rowCount, columnCount}}, ``spreadsheetUrl`` ".../d/ID/edit"; new sheets default to 1000 x 26.
* GridRange in replies omits ``sheetId`` when it is 0 but keeps ``startRowIndex: 0`` (basicFilter
  cassette); a whole-sheet basic filter comes back with concrete bounds.
* 404 body {"error": {"code": 404, "message": "Requested entity was not found.", "status":
  "NOT_FOUND"}}; batchUpdate replies {"spreadsheetId", "replies": [{}...]}; addSheet reply
  {"addSheet": {"properties": {...}}}.
* values: a whole-tab read of a 4x4 sheet answers "Sheet1!A1:D4" with trailing cells and rows
  trimmed, inner blank rows as [] and NO "values" key at all when the range is empty; titles are
  quoted only when needed ("Sheet1" bare, "'D3'" and "'<emoji> x 1'" quoted); "A:A" on a 10-row
  tab answers "A1:A10"; "A1:1" answers "A1:Z1"; PUT answers {spreadsheetId, updatedRange
  (start + data extent), updatedRows, updatedColumns, updatedCells}; append answers
  {spreadsheetId, updates: {...}} with no ``tableRange`` when the tab was empty, and an append
  anchored at a blank cell ("B1" right of filled column A) writes there ("Sheet1!B1:C4");
  majorDimension COLUMNS in writes; clear answers {spreadsheetId, clearedRange:
  "Sheet1!A1:Z1000"}.
* Error texts seen in issue threads: "Unable to parse range: <range as sent>", "Range
  (Solar!Y1) exceeds grid limits. Max rows: 981, max columns: 24" (writes past the grid,
  including an append wider than the tab), "Must specify at least one request.", "Invalid JSON
  payload received. Unknown name \"X\" at 'requests[0]': Cannot find field.", the 429 "Quota
  exceeded for quota metric 'Read requests' and limit 'Read requests per minute per user' ..."
  with status RESOURCE_EXHAUSTED, "'valueInputOption' is required but not specified".
* Reads clamp open or oversized ranges to the grid (clients ask for "A1:ZZ1" or "B2:ZZZ"); a
  read that STARTS outside the grid is the 400 "exceeds grid limits".
* spreadsheets.get with ``ranges`` returns only the sheets those ranges touch (the reference:
  "returns only the portions of the spreadsheet that intersect the requested ranges"), and a
  ``fields`` mask that names grid data returns it even without includeGridData.
* Sheet titles are unique ignoring case (addSheet of "sheet1" next to "Sheet1" fails; reported
  for both the UI and the API in socialpoint-labs/sheetfu#26). Ranges also find a tab ignoring
  case (an exact match wins) and the reply uses the real title: that part is inferred from the
  uniqueness rule and the Sheets UI, not from a recording.

Approximated (documented so nobody leans on them):

* GridData omits ``startRow``/``startColumn`` when 0, as proto3 JSON does for plain ints (read
  them with ``.get(..., 0)``); ``rowMetadata``/``columnMetadata`` carry pixelSize 21/100.
* Formulas are stored as given. Only arithmetic on literal numbers (``=1+1``, ``=2^3``) and
  ``=HYPERLINK("url","label")`` are evaluated; any other formula's effective value is an
  errorValue {type: "ERROR"} (formatted "#ERROR!"), and text that cannot parse ("+64 21 555
  1234" typed USER_ENTERED becomes "=+64 21 555 1234", as in Sheets) is "Formula parse error.".
* USER_ENTERED parsing: "=..." formula; a leading apostrophe forces text; TRUE/FALSE (any case)
  booleans; plain / thousands-separated / percent / "$" numbers (leading zeros are lost, as in
  Sheets); "yyyy-mm-dd[ h:mm[:ss]]", locale slash dates (m/d/yyyy for en_US, d/m/yyyy
  otherwise) and "h:mm[:ss][ am/pm]" become serial numbers with a DATE/DATE_TIME/TIME format;
  other text starting with "+" or "-" becomes a (failing) formula. A cell formatted as TEXT
  keeps typed input as text. ISO "T" timestamps stay text.
* Formatted values: General numbers print like Sheets (integers without ".0", up to 10
  decimals, rounding half away from zero); number patterns support 0 # , . % and quoted literals; date patterns support
  y/m/d/h/s tokens (case-insensitive), mmm/mmmm, ddd/dddd, AM/PM and .000. A DATE/TIME type
  without a pattern uses "M/d/yyyy H:mm:ss" (en_US) or "d/MM/yyyy H:mm:ss" (other locales).
* effectiveFormat = the spreadsheet default format overlaid with userEnteredFormat.
* values.append: the "table" is the block of consecutive rows holding a value in the range's
  columns (an anchor cell such as "A1" means its own column only) starting at the range's
  first row; values go to the row after it, from the table's first column. So a blank row
  inside the data gets filled, and a blank first row is written right there (gspread's
  insert_row/insert_cols rely on that). Google's own detection for a whole-tab range is
  fuzzier (gspread#537: rows with blank cells drift right); an anchor such as "A1" behaves
  the same on both. OVERWRITE grows the tab's rows when needed, INSERT_ROWS inserts rows.
  appendCells appends after the last row holding a value.
* Protection and data validation are stored and returned but never enforced; conditional
  formats are stored, not evaluated; setBasicFilter applies sortSpecs but hides nothing.
* insertDimension does not copy formats from the neighbouring row (inheritFromBefore is
  only validated). Inserting/deleting rows or columns shifts cells, row/column metadata,
  conditional-format ranges, protected ranges, merges and the basic filter.
* Emulated batchUpdate requests (what the worker and the tests send): addSheet,
  updateSheetProperties, updateSpreadsheetProperties, appendCells, updateCells, repeatCell,
  appendDimension, insertDimension, deleteDimension, updateDimensionProperties, setDataValidation,
  add/deleteConditionalFormatRule, add/deleteProtectedRange, setBasicFilter and
  createDeveloperMetadata. Request types Google has but this emulator lacks answer 501
  UNIMPLEMENTED (so a test fails loudly), unknown names answer Google's 400 "Unknown name".
* ``fields`` (partial response) is applied to every JSON reply: comma lists, "a.b" / "a/b"
  paths, "a(b,c)" groups and "*"; grid data is then re-trimmed so rows and cells left empty by
  the mask drop off the ends (gspread's get_notes documents that shape). JSON nulls in request
  bodies mean "unset", except inside value lists where null means "leave this cell".
  Echoed protected ranges and validation rules drop false/empty fields, as proto3 JSON does.
  Replies are compact JSON (Google pretty-prints; no client cares).
* Seeding and the Python helpers (create_spreadsheet tabs, set_values, append_row): values are
  literal unless user_entered=True; datetime/date become serials with a DATE_TIME/DATE format
  ("d/MM/yyyy H:mm:ss" outside en_US, as Forms timestamps look), a naive datetime being sheet
  wall-clock and an aware one converted to the spreadsheet's timeZone. Helpers are not API
  requests: they are neither counted nor subject to injected faults.

Sorting (``sort_tab``, and a basic filter's sortSpecs): numbers before text (case-insensitive) before booleans
before errors, blanks always last in either direction; stable.

Request accounting: ``requests`` records (METHOD, raw path with query, percent-encoded as
received) for every HTTP request that reaches the server, including injected failures.

Fault injection: ``fail_next(n, status)`` answers the next n requests with an error without
handling them; ``fail_next(n, 503, after_apply=True)`` handles them first (a batchUpdate lands)
and then answers the error, as Google sometimes does; ``drop_next(n, hang=s)`` handles them and
closes the connection without a reply (after ``s`` seconds: a client timeout); ``fail_always``
fails everything; ``before_request(n, callback)`` lets a test act (a leader's edit, a fault)
just before the n-th request from now.
"""

from .a1 import column_letters, quote_title
from .base import SheetsApiError
from .server import SheetsEmulator

__all__ = ["SheetsEmulator", "SheetsApiError", "column_letters", "quote_title"]
