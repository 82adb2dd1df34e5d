"""Insights: recurring themes, similar incidents and key figures, derived from postmortems.

Only this package imports scikit-learn and numpy, and only inside the functions that fit
models (`kb themes rebuild`): pages read stored rows and never pay for the import.
"""
