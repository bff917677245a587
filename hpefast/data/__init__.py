"""hpefast.data."""
