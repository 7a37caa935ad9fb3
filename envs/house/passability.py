"""Passability: whether an agent can still walk between a room's doors and its middle (a 5 cm grid)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from scipy import ndimage

from envs.house.config import HouseConfig
from envs.house.geometry import Rect

if TYPE_CHECKING:  # room_state imports NAV_PAD from here
    from envs.house.room_state import RoomState

_NAV_RES = 0.05  # metres per cell of the passability grid
NAV_PAD = 0.3  # grid margin around the interior, metres
_MIDDLE_FRACTION = 0.25  # share of the room's middle box that must stay reachable


def _grid_slice(lo: float, hi: float, origin: float, n: int) -> slice:
    """The grid cells (size ``_NAV_RES`` from ``origin``) whose centres lie in [lo, hi]."""
    i0 = math.ceil((lo - origin) / _NAV_RES - 0.5)
    i1 = math.floor((hi - origin) / _NAV_RES - 0.5) + 1
    return slice(min(max(i0, 0), n), min(max(i1, 0), n))


def _grow(rect: Rect, dx: float, dz: float) -> Rect:
    return (rect[0] - dx, rect[1] - dz, rect[2] + dx, rect[3] + dz)


def passable(st: RoomState, extra: Rect | None, cfg: HouseConfig) -> bool:
    """Whether, with ``extra`` added, an agent of ``agent_radius`` still walks between every door of the
    room and its middle.

    A 5 cm grid of cell centres is *clear* when it is inside the interior (or a door corridor) shrunk
    by the radius and outside every floor item grown by it: a square (L-infinity) growth, so a clear
    centre is at least the radius from everything, and so is the segment to a clear neighbour. The
    door anchors must share one 4-connected clear component, which must also hold a quarter of the
    room's middle box (the central half in x and z)."""
    r = cfg.agent_radius + 0.02
    ix0, iz0, ix1, iz1 = st.interior
    ox, oz = ix0 - NAV_PAD, iz0 - NAV_PAD
    nx = int(math.ceil((ix1 - ix0 + 2 * NAV_PAD) / _NAV_RES))
    nz = int(math.ceil((iz1 - iz0 + 2 * NAV_PAD) / _NAV_RES))
    clear = np.zeros((nz, nx), dtype=bool)
    walkable = [_grow(st.interior, -r, -r)] + [
        _grow(c, -r, 0.0) if side in ("zmin", "zmax") else _grow(c, 0.0, -r) for side, c in st.corridors
    ]  # a door corridor is narrowed along its wall only
    blocked = [_grow(o, r, r) for o in st.floor_rects + ([extra] if extra else [])]
    for rect, value in [(w, True) for w in walkable] + [(b, False) for b in blocked]:
        clear[_grid_slice(rect[1], rect[3], oz, nz), _grid_slice(rect[0], rect[2], ox, nx)] = value
    labels, _ = ndimage.label(clear)
    ids = {int(labels[_grid_index(z, oz, nz), _grid_index(x, ox, nx)]) for x, z in st.anchors}
    if len(ids) != 1 or 0 in ids:
        return False
    mx, mz = (ix1 - ix0) / 4, (iz1 - iz0) / 4
    middle = labels[_grid_slice(iz0 + mz, iz1 - mz, oz, nz), _grid_slice(ix0 + mx, ix1 - mx, ox, nx)]
    return middle.size > 0 and float(np.mean(middle == ids.pop())) >= _MIDDLE_FRACTION


def _grid_index(v: float, origin: float, n: int) -> int:
    return min(max(int((v - origin) / _NAV_RES), 0), n - 1)
