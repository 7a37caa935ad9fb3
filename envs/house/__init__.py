"""Procedural houses: ``generate_house(seed) -> Scene``, a furnished one-floor house, deterministic in the seed.

World frame Y up, metres (see ``envs.types``); the floor's top surface is at y = 0 and the footprint is
centred on the origin. A generated scene is named ``house:<seed>`` (``parse_house_id`` reads it back).

Layout algorithm
----------------
1. **Footprint.** Draw the number of rooms ``n`` in ``[min_rooms, max_rooms]``, then a rectangle of about
   ``n`` times a room area from ``room_area_range`` (aspect 3:4 to 4:3, sides clipped to
   ``[footprint_min, footprint_max]``).
2. **Rooms.** Recursive binary (guillotine) split: repeatedly pick a rectangle (weighted by area) that is at
   least twice the minimum room side along some axis and cut it across its longer axis at a random
   position (5 cm grid) that leaves both halves at least ``min_room_size`` + one wall thickness wide.
   When the draw cannot reach ``n`` rooms another footprint is drawn. Room rectangles are measured at
   the walls' centre lines, so they tile the footprint exactly and become the ``Region`` boxes.
3. **Room types.** The first four types are always living room, kitchen, bedroom and bathroom; the rest are
   distinct draws from the other types. Types are matched to rooms by size (living room largest,
   bathroom smallest).
4. **Doors.** Rooms sharing a wall segment long enough for a door are adjacent. A random spanning tree of
   that graph (Kruskal on shuffled edges) gets a door each, plus sometimes one extra door, so every room
   is reachable. A door is a gap of ``door_width`` (clear) between two 5 cm jambs, ``door_height`` high,
   with a wall lintel above; the jambs and head trim form the "door" object. One closed front door
   (a leaf on the inner face of an exterior wall) is added to the hallway, living room or kitchen.
5. **Structure.** Each room owns a floor slab (top at y = 0), a ceiling slab (bottom at ``wall_height``)
   and one wall object per side. A wall between two rooms is two half-thickness slabs, one per room,
   so each room has its own wall colour; exterior walls are full thickness. Slabs never overlap with
   coplanar visible faces.
6. **Furnishing.** Per room type a recipe lists floor items (against a wall, beside/in front of/around
   another item, or free-standing), wall-mounted items, windows and small objects. Floor items are
   tried at random positions and kept only if their footprint stays inside the room, keeps a
   ``furniture_gap`` from other items, leaves a ``door_clearance`` deep zone in front of every door
   free, and a 5 cm grid of the room (items grown by ``agent_radius``, connected components) still
   joins every door to a quarter or more of the room's middle (its central half in x and z). Windows and
   wall items sit flush on inner wall faces clear of doors and of anything they would intersect;
   small objects stand on registered support surfaces (table tops, shelves, counters, mattresses...)
   with their bottom exactly at the surface height.
7. **Assembly.** Every item is composed of trimesh primitives (box, cylinder/frustum, icosphere,
   capsule, cone) transformed from cached unit templates, gets its own instance id, a per-face colour
   from ``PALETTE`` and a ``SceneObject`` whose box is computed from its float32 vertices. Tall solid
   bodies (appliances, wardrobes, cabinets, counters, fireplace pillars) stand 2 mm above the plinth
   or hearth under them, so a ray cast down from inside one meets its own bottom face first.

Only ``np.random.default_rng(seed)`` is used, so a seed always gives byte-identical arrays.

Modules
-------
- ``vocabulary``: room types, the palette, object categories and each category's colours.
- ``config``: ``HouseConfig`` and its validation; the door trim sizes.
- ``primitives``: box, cylinder/frustum, cone, ellipsoid and capsule parts from cached unit meshes.
- ``models``: one shape builder per category (an item in its own frame, with support surfaces).
- ``recipes``: what each room type holds.
- ``geometry``: plan-view rects, the four room sides, overlap tests.
- ``layout``: footprint, rooms, room types, doors (steps 1-4).
- ``room_state``: a room while it is furnished (items, surfaces, openings, keep-out zones).
- ``structure``: floors, ceilings, walls and door frames (step 5).
- ``passability``: the grid check that an agent can still cross a room.
- ``placement``: turning and moving a model into a room and recording it.
- ``floor_items``, ``wall_items``, ``small_items``: the furnishing passes (step 6).
- ``assemble``: every item merged into one ``Scene`` (step 7).
- ``generate``: ``generate_house`` and ``parse_house_id``.
"""

from envs.house.config import HouseConfig
from envs.house.generate import generate_house, parse_house_id
from envs.house.vocabulary import OBJECT_CATEGORIES, PALETTE, ROOM_TYPES

__all__ = ["OBJECT_CATEGORIES", "PALETTE", "ROOM_TYPES", "HouseConfig", "generate_house", "parse_house_id"]
