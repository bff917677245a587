"""hpefast.export."""
