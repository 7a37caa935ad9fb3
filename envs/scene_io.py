"""Loading scenes: mesh files (.glb/.gltf/.obj/.ply) and generated houses (``house:<seed>``).

Meshes are read with trimesh, the scene graph's transforms applied. Colours come from vertex or
face colours, or from the material (base colour factor, or the base-colour texture sampled at the
vertices' UVs). Semantic labels are read where the file carries them: a PLY face property
``object_id`` (habitat's semantic PLY meshes), with categories from a habitat-style
``info_semantic.json`` (``{"objects": [{"id": 3, "class_name": "chair"}, ...]}``) given as
``semantic_info``.

Files whose up axis is +Z (many Matterport-derived and Blender exports) are turned to nav3d's Y-up
frame with ``up_axis="z"``: (x, y, z) -> (x, z, -y).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from envs.scene import Scene, SceneObject
from envs.types import Z_UP_TO_Y_UP

MESH_SUFFIXES = (".glb", ".gltf", ".obj", ".ply")
_DEFAULT_GRAY = np.array([180, 180, 180], dtype=np.uint8)



def load_scene(path: str | Path, up_axis: str = "y", semantic_info: str | Path | None = None) -> Scene:
    """Load a mesh file as a ``Scene`` in the Y-up world frame.

    ``up_axis`` is the file's up axis ("y" or "z"). ``semantic_info`` is an optional
    habitat-style JSON naming the categories of the PLY ``object_id`` values.
    """
    path = Path(path)
    if up_axis not in ("y", "z"):
        raise ValueError(f"up_axis must be 'y' or 'z', got {up_axis!r}")
    if not path.exists():
        raise FileNotFoundError(f"scene file {str(path)!r} does not exist; give a .glb/.gltf/.obj/.ply path or house:<seed>")
    if path.suffix.lower() not in MESH_SUFFIXES:
        raise ValueError(f"scene file {str(path)!r}: unsupported format {path.suffix!r}; nav3d reads {', '.join(MESH_SUFFIXES)}")
    import trimesh

    try:
        loaded = trimesh.load(str(path), force="scene", process=False)
    except Exception as exc:  # trimesh raises many types on corrupt files
        raise ValueError(f"scene file {str(path)!r} could not be read as a mesh ({type(exc).__name__}: {exc})") from exc

    parts = []
    for node in loaded.graph.nodes_geometry:
        transform, geometry_name = loaded.graph[node]
        geometry = loaded.geometry[geometry_name]
        if not isinstance(geometry, trimesh.Trimesh) or len(geometry.faces) == 0:
            continue  # point clouds and paths carry no surface
        parts.append(_mesh_part(geometry, np.asarray(transform)))
    if not parts:
        raise ValueError(f"scene file {str(path)!r} holds no triangles")

    vertices, faces, vertex_colors, textured, face_ids = [], [], [], False, []
    offset = 0
    for v, f, vc, tex, ids in parts:
        vertices.append(v)
        faces.append(f + offset)
        vertex_colors.append(vc)
        face_ids.append(ids)
        textured |= tex
        offset += len(v)
    vertices_a = np.concatenate(vertices)
    if up_axis == "z":
        vertices_a = vertices_a @ Z_UP_TO_Y_UP.T
    faces_a = np.concatenate(faces)
    vc_a = np.concatenate(vertex_colors)
    face_colors = vc_a[faces_a].astype(np.float32).mean(axis=1).round().astype(np.uint8)
    face_instance = np.concatenate(face_ids)
    objects = _objects_from_ids(vertices_a, faces_a, face_instance, semantic_info, path)
    return Scene(
        vertices=vertices_a,
        faces=faces_a,
        face_colors=face_colors,
        face_instance=face_instance,
        objects=objects,
        name=str(path),
        vertex_colors=vc_a if textured else None,
    )


def resolve_scene(scene_id: str, up_axis: str = "y") -> Scene:
    """A scene from an id: ``house:<seed>`` generates a house, anything else is a mesh path."""
    from envs.house import generate_house, parse_house_id

    seed = parse_house_id(scene_id)
    if seed is not None:
        return generate_house(seed)
    if scene_id.startswith("house:"):
        raise ValueError(f"scene id {scene_id!r}: a generated house is named house:<integer seed>, e.g. house:7")
    return load_scene(scene_id, up_axis=up_axis)


def _mesh_part(geometry, transform: np.ndarray):
    """(vertices (V,3) world, faces (F,3), vertex colours (V,3) uint8, textured?, face ids (F,))."""
    v = np.asarray(geometry.vertices, dtype=np.float64) @ transform[:3, :3].T + transform[:3, 3]
    f = np.asarray(geometry.faces, dtype=np.int64)
    colors, textured = _vertex_colors(geometry)
    ids = _ply_object_ids(geometry)
    return v, f, colors, textured, ids


def _vertex_colors(geometry) -> tuple[np.ndarray, bool]:
    """Per-vertex RGB (V, 3) uint8 and whether it varies within the mesh (a texture)."""
    n = len(geometry.vertices)
    visual = geometry.visual
    textured = False
    if visual.kind == "texture":
        material = getattr(visual, "material", None)
        image = getattr(material, "baseColorTexture", None) or getattr(material, "image", None)
        textured = image is not None and getattr(visual, "uv", None) is not None
        try:
            visual = visual.to_color()  # samples the texture at the UVs, or uses the base colour
        except Exception:
            return np.tile(_DEFAULT_GRAY, (n, 1)), False
    colors = getattr(visual, "vertex_colors", None)
    if colors is None or len(colors) != n:
        return np.tile(_DEFAULT_GRAY, (n, 1)), False
    return np.asarray(colors)[:, :3].astype(np.uint8), textured


def _ply_object_ids(geometry) -> np.ndarray:
    """The PLY face property ``object_id`` (habitat's semantic meshes) or zeros."""
    n = len(geometry.faces)
    raw = (geometry.metadata or {}).get("_ply_raw", {})
    face = raw.get("face", {}).get("data") if isinstance(raw, dict) else None
    # binary PLY: a structured array; ASCII PLY: a dict of arrays
    names = face.keys() if isinstance(face, dict) else (getattr(getattr(face, "dtype", None), "names", None) or ())
    if "object_id" in names:
        ids = np.asarray(face["object_id"]).reshape(-1).astype(np.int64)
        if len(ids) == n:
            return np.clip(ids, 0, None).astype(np.int32)
    return np.zeros(n, dtype=np.int32)


def _objects_from_ids(vertices, faces, face_instance, semantic_info, path: Path) -> dict[int, SceneObject]:
    ids = np.unique(face_instance[face_instance > 0])
    if len(ids) == 0:
        return {}
    names = _read_semantic_info(Path(semantic_info)) if semantic_info is not None else {}
    objects = {}
    for i in ids.tolist():
        corners = vertices[faces[face_instance == i]].reshape(-1, 3)
        objects[i] = SceneObject(i, names.get(i, "unknown"), corners.min(axis=0), corners.max(axis=0))
    return objects


def _read_semantic_info(path: Path) -> dict[int, str]:
    if not path.exists():
        raise FileNotFoundError(f"semantic info file {str(path)!r} does not exist")
    try:
        data = json.loads(path.read_text())
        return {int(o["id"]): str(o["class_name"]).strip().lower() for o in data["objects"]}
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ValueError(
            f"semantic info file {str(path)!r} must be JSON like "
            f'{{"objects": [{{"id": 3, "class_name": "chair"}}]}} ({type(exc).__name__}: {exc})'
        ) from exc
