"""The package's own errors. Only workflow.cli turns them into messages and exit codes."""


class DigitalIncidentsError(Exception):
    """Base class: a problem a user can fix, with a message saying how."""

    exit_code = 1


class ConfigError(DigitalIncidentsError):
    """The config file (or a data file it points to) is missing, malformed or invalid."""


class TemplateError(DigitalIncidentsError):
    """An email template is missing or fails to render."""


class SheetLayoutError(DigitalIncidentsError):
    """A tab or column the worker needs is missing; the message names it and the fix."""


class StorageError(DigitalIncidentsError):
    """The workbook or spreadsheet cannot be opened, read or written (not a layout problem)."""


class TemporaryFailure(DigitalIncidentsError):
    """Network, quota or mail server trouble that the next run will retry (exit 75)."""

    exit_code = 75
