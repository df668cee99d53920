"""Repositories: intention-revealing functions taking an AsyncConnection."""
