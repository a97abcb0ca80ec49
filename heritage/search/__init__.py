"""Search: full text, facets, map and timeline over the records a person may see.

``analysis`` turns text into the terms both backends index (the same folding and
stemming everywhere, so the embedded engine and PostgreSQL agree), ``documents``
turns a record into a search document, ``query`` parses what people type,
``backends`` holds the engines behind one interface, ``services`` is what the
web pages, the API and the CLI call.
"""
