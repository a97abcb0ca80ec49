"""Readers of the formats institutions bring: each streams its source into records."""
