"""gato-eval: evaluate Gato-style generalist agents the way the paper did (Reed et al., 2022)."""

__version__ = "0.1.0"
