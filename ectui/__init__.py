"""ectui: terminal console for OpenStack private clouds, and its license authority."""

__version__ = "0.1.0"
