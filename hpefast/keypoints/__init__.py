"""hpefast.keypoints."""
