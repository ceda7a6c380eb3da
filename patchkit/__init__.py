"""patchkit: render, apply, validate, measure and mail one kernel patch series."""

__version__ = "0.1.0"
