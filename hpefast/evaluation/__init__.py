"""hpefast.evaluation."""
