"""Preservation store: OCFL objects on disk, with their encryption and fixity."""
