"""mda-bench: a reproducibility benchmark suite for Mechanistic Data Attribution."""

__version__ = "0.1.0"
