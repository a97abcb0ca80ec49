"""Resumable uploads (tus 1.0): large files arrive in pieces and become a new version."""
