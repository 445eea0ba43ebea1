"""Hegui (合规): compliance toolkit and gateway for generative-AI services in China."""

__version__ = "0.1.0"
