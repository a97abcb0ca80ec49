"""Institutions (museums, archives, libraries, universities) and their members."""
