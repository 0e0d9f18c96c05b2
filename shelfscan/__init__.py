"""shelfscan: retail shelf analytics."""

__version__ = "0.1.0"
