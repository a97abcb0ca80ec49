"""Workspaces: collaborative projects with members from several institutions."""
