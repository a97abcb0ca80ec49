"""Routers; each module is one area of the API or the pages."""
