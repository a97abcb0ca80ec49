"""Backup and restore of a whole instance: database, storage root and (separately) keys.

``services.backup`` / ``services.restore`` are what ``heritage backup`` and
``heritage restore`` call; ``dump.py`` is the portable database dump,
``storage.py`` the storage root copy, ``keysfile.py`` the passphrase-encrypted
keys file, ``files.py`` the atomic backup directory and its manifest.
"""

from heritage.backup.files import BackupDamaged, BackupError
from heritage.backup.keysfile import KeysFileError
from heritage.backup.services import BackupReport, RestoreReport, backup, restore

__all__ = [
    "BackupDamaged",
    "BackupError",
    "BackupReport",
    "KeysFileError",
    "RestoreReport",
    "backup",
    "restore",
]
