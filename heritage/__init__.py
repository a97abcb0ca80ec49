"""Heritage Cloud: a self-hostable collaborative cloud for cultural heritage."""

__version__ = "0.1.0"
