"""guidelinekg: computable clinical guidelines as knowledge graphs."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("guidelinekg")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"
