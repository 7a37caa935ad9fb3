"""Low-level policies: a world-frame goal point + the env's observation -> a discrete action.

Policies need only poses, navigation queries and (later) the perception map's occupancy grid;
they never import ``agent``.
"""

from policies.base import Policy
from policies.oracle import OracleFollower

__all__ = ["Policy", "OracleFollower"]
