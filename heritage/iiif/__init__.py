"""IIIF for images: derivatives, the Image API 3.0 server, Presentation 3.0 manifests."""
