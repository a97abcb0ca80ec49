"""The ``heritage`` command line. Commands call services; they never touch HTTP."""
