"""Widgets of the console screen, one concern each."""
