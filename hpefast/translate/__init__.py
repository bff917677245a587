"""hpefast.translate."""
