"""Comparisons expanded from rankings, training runs and the model registry."""
