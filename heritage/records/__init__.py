"""Collection records: the EDM-aligned model, its JSON-LD, validation, imports and editing."""
