"""Human3.6M cameras and the camera model of VideoPose3D: world -> camera (quaternion), camera -> pixels
(radial + tangential distortion), screen normalisation.

``H36M_CAMERAS[subject]`` is the list of the four cameras of a subject, in VideoPose3D's order (ids
54138969, 55011271, 58860488, 60457274), with the values VideoPose3D publishes in
``common/h36m_dataset.py``: intrinsics (focal length and principal point in pixels, radial k1..k3,
tangential p1, p2 in VideoPose3D's order, image size) and per-subject extrinsics (``orientation``: the unit
quaternion (w, x, y, z) of the camera-to-world rotation; ``translation``: the camera centre in world
coordinates, here in metres). The tests check these values against the calibration shipped with the real
frames in ``shared/data/h36m`` and that projecting the real 3D joints reproduces the real 2D joints.

Conventions (VideoPose3D): world and camera points are row vectors [..., 3];
``x_cam = rotate(inverse(orientation), x_world - translation)``; normalised image coordinates
``u = x / z, v = y / z`` are clamped to [-1, 1] (VideoPose3D's guard against points behind the camera),
distorted by ``u' = u (1 + k1 r^2 + k2 r^4 + k3 r^6 + p1 u + p2 v) + (p1, p2) r^2`` and mapped by
``f u' + c``. Pixel intrinsics give pixels; :meth:`H36MCamera.intrinsic` with ``normalized=True`` gives
VideoPose3D's normalised-screen intrinsics (the 2D inputs of its lifting models).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import torch

from hpefast.errors import InputError

__all__ = [
    "H36MCamera",
    "H36M_CAMERAS",
    "H36M_CAMERA_IDS",
    "get_camera",
    "qrot",
    "qinverse",
    "world_to_camera",
    "camera_to_world",
    "project_to_2d",
    "normalize_screen_coordinates",
    "image_coordinates",
]

Array = TypeVar("Array", np.ndarray, torch.Tensor)

H36M_CAMERA_IDS = ("54138969", "55011271", "58860488", "60457274")

# VideoPose3D common/h36m_dataset.py: intrinsics per camera (same for every subject)
_INTRINSICS = (
    ((1145.0494384765625, 1143.7811279296875), (512.54150390625, 515.4514770507812),
     (-0.20709891617298126, 0.24777518212795258, -0.0030751503072679043),
     (-0.0009756988729350269, -0.00142447161488235), 1000, 1002),
    ((1149.6756591796875, 1147.5916748046875), (508.8486328125, 508.0649108886719),
     (-0.1942136287689209, 0.2404085397720337, 0.006819975562393665),
     (-0.0016190266469493508, -0.0027408944442868233), 1000, 1000),
    ((1149.1407470703125, 1148.7989501953125), (519.8158569335938, 501.40264892578125),
     (-0.2083381861448288, 0.25548800826072693, -0.0024604974314570427),
     (0.0014843869721516967, -0.0007599993259645998), 1000, 1000),
    ((1145.5113525390625, 1144.77392578125), (514.9682006835938, 501.88201904296875),
     (-0.198384091258049, 0.21832367777824402, -0.008947807364165783),
     (-0.0005872055771760643, -0.0018133620033040643), 1000, 1002),
)  # fmt: skip

# VideoPose3D common/h36m_dataset.py: extrinsics per subject, (orientation quaternion, translation in mm)
_EXTRINSICS = {
    "S1": (
        ((0.1407056450843811, -0.1500701755285263, -0.755240797996521, 0.6223280429840088),
         (1841.1070556640625, 4955.28466796875, 1563.4454345703125)),
        ((0.6157187819480896, -0.764836311340332, -0.14833825826644897, 0.11794740706682205),
         (1761.278564453125, -5078.0068359375, 1606.2650146484375)),
        ((0.14651472866535187, -0.14647851884365082, 0.7653023600578308, -0.6094175577163696),
         (-1846.7777099609375, 5215.04638671875, 1491.972412109375)),
        ((0.5834008455276489, -0.7853162288665771, 0.14548823237419128, -0.14749594032764435),
         (-1794.7896728515625, -3722.698974609375, 1574.8927001953125)),
    ),
    "S5": (
        ((0.1467377245426178, -0.162370964884758, -0.7551892995834351, 0.6178938746452332),
         (2097.3916015625, 4880.94482421875, 1605.732421875)),
        ((0.6159758567810059, -0.7626792192459106, -0.15728192031383514, 0.1189815029501915),
         (2031.7008056640625, -5167.93310546875, 1612.923095703125)),
        ((0.14291371405124664, -0.12907841801643372, 0.7678384780883789, -0.6110143065452576),
         (-1620.5948486328125, 5171.65869140625, 1496.43701171875)),
        ((0.5920479893684387, -0.7814217805862427, 0.1274748593568802, -0.15036417543888092),
         (-1637.1737060546875, -3867.3173828125, 1547.033203125)),
    ),
    "S6": (
        ((0.1337897777557373, -0.15692396461963654, -0.7571090459823608, 0.6198879480361938),
         (1935.4517822265625, 4950.24560546875, 1618.0838623046875)),
        ((0.6147197484970093, -0.7628812789916992, -0.16174767911434174, 0.11819244921207428),
         (1969.803955078125, -5128.73876953125, 1632.77880859375)),
        ((0.1529948115348816, -0.13529130816459656, 0.7646096348762512, -0.6112781167030334),
         (-1769.596435546875, 5185.361328125, 1476.993408203125)),
        ((0.5916101336479187, -0.7804774045944214, 0.12832270562648773, -0.1561593860387802),
         (-1721.668701171875, -3884.13134765625, 1540.4879150390625)),
    ),
    "S7": (
        ((0.1435241848230362, -0.1631336808204651, -0.7548328638076782, 0.6188824772834778),
         (1974.512939453125, 4926.3544921875, 1597.8326416015625)),
        ((0.6141672730445862, -0.7638262510299683, -0.1596645563840866, 0.1177929937839508),
         (1937.0584716796875, -5119.7900390625, 1631.5665283203125)),
        ((0.14550060033798218, -0.12874816358089447, 0.7660516500473022, -0.6127139329910278),
         (-1741.8111572265625, 5208.24951171875, 1464.8245849609375)),
        ((0.5912848114967346, -0.7821764349937439, 0.12445473670959473, -0.15196487307548523),
         (-1734.7105712890625, -3832.42138671875, 1548.5830078125)),
    ),
    "S8": (
        ((0.14110587537288666, -0.15589867532253265, -0.7561917304992676, 0.619644045829773),
         (2150.65185546875, 4896.1611328125, 1611.9046630859375)),
        ((0.6169601678848267, -0.7647668123245239, -0.14846350252628326, 0.11158157885074615),
         (2219.965576171875, -5148.453125, 1613.0440673828125)),
        ((0.1471444070339203, -0.13377119600772858, 0.7670128345489502, -0.6100369691848755),
         (-1571.2215576171875, 5137.0185546875, 1498.1761474609375)),
        ((0.5927824378013611, -0.7825870513916016, 0.12147816270589828, -0.14631995558738708),
         (-1476.913330078125, -3896.7412109375, 1547.97216796875)),
    ),
    "S9": (
        ((0.15540587902069092, -0.15548215806484222, -0.7532095313072205, 0.6199594736099243),
         (2044.45849609375, 4935.1171875, 1481.2275390625)),
        ((0.618784487247467, -0.7634735107421875, -0.14132238924503326, 0.11933968216180801),
         (1990.959716796875, -5123.810546875, 1568.8048095703125)),
        ((0.13357827067375183, -0.1367100477218628, 0.7689454555511475, -0.6100738644599915),
         (-1670.9921875, 5211.98583984375, 1528.387939453125)),
        ((0.5879399180412292, -0.7823407053947449, 0.1427614390850067, -0.14794869720935822),
         (-1696.04345703125, -3827.099853515625, 1591.4127197265625)),
    ),
    "S11": (
        ((0.15232472121715546, -0.15442320704460144, -0.7547563314437866, 0.6191070079803467),
         (2098.440185546875, 4926.5546875, 1500.278564453125)),
        ((0.6189449429512024, -0.7600917220115662, -0.15300633013248444, 0.1255258321762085),
         (2083.182373046875, -4912.1728515625, 1561.07861328125)),
        ((0.14943228662014008, -0.15650227665901184, 0.7681233882904053, -0.6026304364204407),
         (-1609.8153076171875, 5177.3359375, 1537.896728515625)),
        ((0.5894251465797424, -0.7818877100944519, 0.13991211354732513, -0.14715361595153809),
         (-1590.738037109375, -3854.1689453125, 1578.017578125)),
    ),
}  # fmt: skip


@dataclass(frozen=True)
class H36MCamera:
    """One calibrated Human3.6M camera of one subject.

    Attributes:
        id: camera id ("54138969", ...); subject: "S1", ...; index: 0..3 (VideoPose3D's camera order).
        orientation: [4] unit quaternion (w, x, y, z) of the camera-to-world rotation.
        translation: [3] camera centre in world coordinates, metres.
        focal_length, center: [2] pixels; radial: [3] k1, k2, k3; tangential: [2] p1, p2 (VideoPose3D order).
        res_w, res_h: image size in pixels.
    """

    id: str
    subject: str
    index: int
    orientation: np.ndarray
    translation: np.ndarray
    focal_length: np.ndarray
    center: np.ndarray
    radial: np.ndarray
    tangential: np.ndarray
    res_w: int
    res_h: int

    def intrinsic(self, normalized: bool = False) -> np.ndarray:
        """[9] float64 (fx, fy, cx, cy, k1, k2, k3, p1, p2) for :func:`project_to_2d`. ``normalized``:
        VideoPose3D's normalised-screen intrinsics (f * 2 / w; c through
        :func:`normalize_screen_coordinates`), which project to normalised screen coordinates."""
        f, c = self.focal_length, self.center
        if normalized:
            f = f / self.res_w * 2
            c = normalize_screen_coordinates(c, self.res_w, self.res_h)
        return np.concatenate([f, c, self.radial, self.tangential]).astype(np.float64)

    def rotation_matrix(self) -> np.ndarray:
        """[3, 3] camera-to-world rotation R (x_cam = (x_world - translation) @ R)."""
        return _quat_to_matrix(self.orientation)


def _quat_to_matrix(q: np.ndarray) -> np.ndarray:
    w, x, y, z = (float(v) for v in q)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def _build() -> dict[str, tuple[H36MCamera, ...]]:
    out = {}
    for subject, extr in _EXTRINSICS.items():
        cams = []
        for i, ((orient, trans), (f, c, k, p, w, h)) in enumerate(zip(extr, _INTRINSICS, strict=True)):
            arrays = [np.array(v, dtype=np.float64) for v in (orient, np.array(trans) / 1000.0, f, c, k, p)]
            for a in arrays:
                a.setflags(write=False)
            cams.append(H36MCamera(H36M_CAMERA_IDS[i], subject, i, *arrays, res_w=w, res_h=h))
        out[subject] = tuple(cams)
    return out


H36M_CAMERAS: dict[str, tuple[H36MCamera, ...]] = _build()


def get_camera(subject: str, camera: int | str) -> H36MCamera:
    """The camera of ``subject`` by index (0..3) or id ("54138969"); ValueError naming what is missing."""
    if subject not in H36M_CAMERAS:
        raise InputError(f"no Human3.6M cameras for subject {subject!r}; known: {sorted(H36M_CAMERAS)}")
    cams = H36M_CAMERAS[subject]
    if isinstance(camera, str) and not camera.isdigit():
        raise InputError(f"camera must be an index 0..3 or an id {list(H36M_CAMERA_IDS)}, got {camera!r}")
    key = str(camera)
    if key in H36M_CAMERA_IDS:
        return cams[H36M_CAMERA_IDS.index(key)]
    if isinstance(camera, int) and not isinstance(camera, bool) and 0 <= camera < len(cams):
        return cams[camera]
    raise InputError(f"subject {subject}: no camera {camera!r} (indices 0..3 or ids {list(H36M_CAMERA_IDS)})")


# ------------------------------------------------------------------------------------------ geometry
def _lib(x):
    if isinstance(x, torch.Tensor):
        return torch
    if isinstance(x, np.ndarray):
        return np
    raise TypeError(f"expected a numpy array or a torch tensor, got {type(x).__name__}")


def _like(value, ref):
    """``value`` (array-like) as the library, dtype and device of ``ref``."""
    if isinstance(ref, torch.Tensor):
        return torch.as_tensor(np.asarray(value) if not isinstance(value, torch.Tensor) else value).to(
            dtype=ref.dtype, device=ref.device
        )
    return np.asarray(value.cpu().numpy() if isinstance(value, torch.Tensor) else value, dtype=ref.dtype)


def _check_last(x, n: int, name: str, arg: str) -> None:
    _lib(x)
    if x.ndim < 1 or x.shape[-1] != n:
        raise InputError(
            f"{name}: {arg} must have {n} values in its last dimension, got shape {tuple(x.shape)}"
        )
    if isinstance(x, np.ndarray) and not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"{name}: {arg} must be floating point, got {x.dtype}")
    if isinstance(x, torch.Tensor) and not x.is_floating_point():
        raise TypeError(f"{name}: {arg} must be floating point, got {x.dtype}")


def _cross(a, b):
    if isinstance(a, torch.Tensor):
        return torch.linalg.cross(a, b, dim=-1)
    return np.cross(a, b)


def qrot(q: Array, v: Array) -> Array:
    """Rotate vectors ``v`` [..., 3] by unit quaternions ``q`` [..., 4] (w, x, y, z); broadcasts."""
    qvec = q[..., 1:]
    if isinstance(v, torch.Tensor):
        qvec = qvec.expand(v.shape)
    else:
        qvec = np.broadcast_to(qvec, v.shape)
    uv = _cross(qvec, v)
    uuv = _cross(qvec, uv)
    return v + 2 * (q[..., :1] * uv + uuv)


def qinverse(q: Array) -> Array:
    """Inverse (conjugate) of unit quaternions [..., 4]."""
    if isinstance(q, torch.Tensor):
        return torch.cat([q[..., :1], -q[..., 1:]], dim=-1)
    return np.concatenate([q[..., :1], -q[..., 1:]], axis=-1)


def world_to_camera(points: Array, orientation, translation) -> Array:
    """World points [..., 3] -> camera frame [..., 3]: rotate ``points - translation`` by the inverse of
    the camera-to-world quaternion ``orientation`` [4] (w, x, y, z). Units of ``translation`` = units of
    ``points`` (metres for :data:`H36M_CAMERAS`). numpy in, numpy out; torch in, torch out."""
    _check_last(points, 3, "world_to_camera", "points")
    q, t = _like(orientation, points), _like(translation, points)
    _check_last(q, 4, "world_to_camera", "orientation")
    _check_last(t, 3, "world_to_camera", "translation")
    return qrot(qinverse(q), points - t)


def camera_to_world(points: Array, orientation, translation) -> Array:
    """Inverse of :func:`world_to_camera`."""
    _check_last(points, 3, "camera_to_world", "points")
    q, t = _like(orientation, points), _like(translation, points)
    _check_last(q, 4, "camera_to_world", "orientation")
    _check_last(t, 3, "camera_to_world", "translation")
    return qrot(q, points) + t


def project_to_2d(points_cam: Array, intrinsic, clamp: bool = True) -> Array:
    """Project camera-frame points [..., 3] to the image with VideoPose3D's Human3.6M camera model.

    Args:
        points_cam: [..., 3] points in the camera frame (z > 0 in front of the camera).
        intrinsic: [9] (fx, fy, cx, cy, k1, k2, k3, p1, p2), or [..., 9] broadcasting against the points'
            leading dims with one camera per item (e.g. [N, 9] for points [N, J, 3]). Pixel intrinsics give
            pixels; normalised ones (:meth:`H36MCamera.intrinsic`) give normalised screen coordinates.
        clamp: clamp x/z and y/z to [-1, 1] as VideoPose3D does (a guard for points behind the camera).
    Returns:
        [..., 2] image coordinates (x, y).
    """
    _check_last(points_cam, 3, "project_to_2d", "points_cam")
    k = _like(intrinsic, points_cam)
    _check_last(k, 9, "project_to_2d", "intrinsic")
    while k.ndim > 1 and k.ndim < points_cam.ndim:
        k = k[..., None, :]
    f, c, rad, tan = k[..., :2], k[..., 2:4], k[..., 4:7], k[..., 7:9]
    xx = points_cam[..., :2] / points_cam[..., 2:]
    if clamp:
        xx = xx.clamp(-1, 1) if isinstance(xx, torch.Tensor) else np.clip(xx, -1, 1)
    r2 = (xx * xx).sum(-1, keepdims=True) if isinstance(xx, np.ndarray) else (xx * xx).sum(-1, keepdim=True)
    radial = 1 + rad[..., :1] * r2 + rad[..., 1:2] * r2**2 + rad[..., 2:3] * r2**3
    tangential = (
        (tan * xx).sum(-1, keepdims=True) if isinstance(xx, np.ndarray) else (tan * xx).sum(-1, keepdim=True)
    )
    return f * (xx * (radial + tangential) + tan * r2) + c


def normalize_screen_coordinates(x: Array, w: int, h: int) -> Array:
    """Pixels [..., 2] -> normalised screen coordinates: [0, w] maps to [-1, 1], aspect ratio kept
    (VideoPose3D). The inverse is :func:`image_coordinates`."""
    _check_last(x, 2, "normalize_screen_coordinates", "x")
    if w <= 0 or h <= 0:
        raise InputError(f"normalize_screen_coordinates: image size must be positive, got w={w}, h={h}")
    return x / w * 2 - _like([1.0, h / w], x)


def image_coordinates(x: Array, w: int, h: int) -> Array:
    """Normalised screen coordinates [..., 2] -> pixels; inverse of :func:`normalize_screen_coordinates`."""
    _check_last(x, 2, "image_coordinates", "x")
    if w <= 0 or h <= 0:
        raise InputError(f"image_coordinates: image size must be positive, got w={w}, h={h}")
    return (x + _like([1.0, h / w], x)) * w / 2
