"""hpefast.engine."""
