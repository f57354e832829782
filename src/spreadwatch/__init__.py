"""spreadwatch: epidemic spread prediction from carrier, roaming and home-IoT data."""

__version__ = "0.1.0"
