"""The teaching toy: the CAGrad / Nash-MTL two-objective landscape and the explorer's gradient plane.

objective: the losses, their Jacobian and the Pareto set (numpy); simulator: every method's starts
stepped together under Adam; cache: computed trajectories on disk, one file per method and start;
protocols: the papers' presets; parallel: worker processes and the
measured cost of a step; runs: the entry that combines them; plane: one method's direction for a
few gradients in 2-D. Importing this package does not import torch: the methods are torch modules
and are imported where a trajectory or a direction is computed (in worker processes for long runs).
"""

from mtlcore.teaching.cache import Plan, cached_runs, plan
from mtlcore.teaching.objective import (
                                        EPS,
                                        NASH_IMBALANCE,
                                        PAPER_LR,
                                        PAPER_STARTS,
                                        PAPER_STEPS,
                                        PARETO_X1,
                                        PARETO_X2,
                                        REACHED,
                                        loss_grid,
                                        pareto_distance,
                                        pareto_front,
                                        parse_points,
                                        start_label,
                                        toy_losses,
                                        toy_losses_and_jacobian,
)
from mtlcore.teaching.parallel import offloaded, step_cost_us, warm_up, worker_limit, worker_pool
from mtlcore.teaching.plane import PlaneDirection, combine_in_plane, plane_directions
from mtlcore.teaching.protocols import CAGRAD, NASH_MTL, PROTOCOLS, Protocol, protocol
from mtlcore.teaching.runs import complete, estimated_seconds, missing_seconds, simulate
from mtlcore.teaching.simulator import (
    RECORDED,
    MethodSpec,
    Progress,
    Trajectories,
    reach_table,
    toy_caveat,
)

__all__ = ["CAGRAD", "NASH_MTL", "PROTOCOLS", "Protocol", "protocol",
           "EPS", "NASH_IMBALANCE", "PAPER_LR", "PAPER_STARTS", "PAPER_STEPS", "PARETO_X1", "PARETO_X2",
           "RECORDED", "REACHED", "MethodSpec", "Plan", "PlaneDirection", "Progress", "Trajectories", "cached_runs",
           "combine_in_plane", "complete", "estimated_seconds", "loss_grid", "missing_seconds", "offloaded",
           "pareto_distance", "pareto_front", "parse_points", "plan", "plane_directions", "reach_table", "simulate",
           "start_label", "step_cost_us", "toy_caveat", "toy_losses", "toy_losses_and_jacobian", "warm_up",
           "worker_limit", "worker_pool"]
