"""hpefast.models."""
