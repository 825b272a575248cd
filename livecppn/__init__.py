"""livecppn: a real-time, audio-reactive CPPN visual instrument."""

__version__ = "0.1.0"
