"""Scores: references, normalization, scoring, score tables, statistics, figures, reports."""
