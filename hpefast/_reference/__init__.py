"""hpefast._reference."""
