"""Web layer: JSON API under /api and server-rendered pages. Thin: it only routes and renders."""
