"""hpefast.deploy."""
