"""Low-level policies: a world-frame goal point + the env's observation -> a discrete action.

Policies need only poses, the perception map's occupancy grid and (for the privileged oracle) the
simulator's navigation queries; they never import ``agent``.
"""

from policies.base import Policy
from policies.frontier import ExploreStatus, FrontierExplorer
from policies.map_planner import MapPlannerPolicy, PlanStatus
from policies.oracle import OracleFollower

__all__ = ["Policy", "MapPlannerPolicy", "PlanStatus", "FrontierExplorer", "ExploreStatus", "OracleFollower"]
