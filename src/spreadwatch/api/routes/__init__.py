"""API route modules."""
