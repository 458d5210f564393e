"""digital-incidents: staff reports of digital incidents become triaged, tracked cases."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("digital-incidents")
except PackageNotFoundError:  # running from a source checkout that was never installed
    __version__ = "0+unknown"
