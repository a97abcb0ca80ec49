"""Accounts: users, passwords, web sessions, API tokens and the identity layer."""
