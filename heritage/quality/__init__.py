"""Europeana's publishing tiers of a record: content tier 0-4 and metadata tier 0/A/B/C."""
