"""2D-to-3D lifting: 3D pose metrics, Human3.6M data and cameras, lifting models and their training."""
