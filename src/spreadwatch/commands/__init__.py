"""Command-line commands that live in their own modules (registered in ``spreadwatch.cli``)."""
