"""Placeholder until the wing lands."""
