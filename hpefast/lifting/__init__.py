"""2D-to-3D lifting: 3D pose metrics, Human3.6M data and cameras, lifting models and their training.

Modules (names are importable from here lazily):

* :mod:`~hpefast.lifting.metrics`: ``mpjpe``, ``p_mpjpe``, ``n_mpjpe``, ``mpjve``, ``pck3d``, ``auc3d``,
  ``procrustes_align``, ``root_relative`` (batched torch, any device, numpy accepted).
* :mod:`~hpefast.lifting.h36m`: subjects, the 15 actions, ``action_table`` (protocol #1/#2 tables),
  ``to_h36m`` (COCO-17 / union21 -> H36M-17).
* :mod:`~hpefast.lifting.cameras`: ``H36M_CAMERAS``, ``world_to_camera``, ``project_to_2d``, screen
  normalisation.
* :mod:`~hpefast.lifting.dataset`: VideoPose3D npz files, ``load_sequences``.
* :mod:`~hpefast.lifting.synthetic`: ``write_h36m`` (synthetic Human3.6M in the real layout, with images).
* :mod:`~hpefast.lifting.models`, :mod:`~hpefast.lifting.config`, :mod:`~hpefast.lifting.train`: lifting
  networks (Martinez MLP, VideoPose3D temporal convolutions), their config, training and evaluation.
"""

from hpefast._lazy import lazy_names

_NAMES = {
    **{
        n: "hpefast.lifting.metrics"
        for n in (
            "mpjpe",
            "p_mpjpe",
            "n_mpjpe",
            "mpjve",
            "pck3d",
            "auc3d",
            "procrustes_align",
            "root_relative",
        )
    },
    **{
        n: "hpefast.lifting.h36m"
        for n in (
            "H36M_ACTIONS",
            "TRAIN_SUBJECTS",
            "TEST_SUBJECTS",
            "canonical_action",
            "action_table",
            "format_action_tables",
            "to_h36m",
        )
    },
    **{
        n: "hpefast.lifting.cameras"
        for n in (
            "H36M_CAMERAS",
            "H36MCamera",
            "get_camera",
            "world_to_camera",
            "camera_to_world",
            "project_to_2d",
            "normalize_screen_coordinates",
            "image_coordinates",
        )
    },
    **{
        n: "hpefast.lifting.dataset"
        for n in (
            "Sequence",
            "load_positions_3d",
            "load_positions_2d",
            "save_positions_3d",
            "save_positions_2d",
            "load_sequences",
        )
    },
    "write_h36m": "hpefast.lifting.synthetic",
    "LinearModel": "hpefast.lifting.models",
    "TemporalModel": "hpefast.lifting.models",
    "build_lifter": "hpefast.lifting.models",
    "LiftConfig": "hpefast.lifting.config",
    "load_lift_config": "hpefast.lifting.config",
    **{
        n: "hpefast.lifting.train"
        for n in (
            "train_lifter",
            "evaluate_lifter",
            "predict_sequence",
            "mean_pose_baseline",
            "save_lifter",
            "load_lifter",
            "load_split",
        )
    },
}
__all__ = sorted(_NAMES)
__getattr__, __dir__ = lazy_names(__name__, _NAMES)
