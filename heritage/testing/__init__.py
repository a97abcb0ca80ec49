"""Test helpers: real services on loopback, fixtures, and a standard world of users."""
