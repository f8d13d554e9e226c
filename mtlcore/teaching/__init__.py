"""The teaching toy: the CAGrad / Nash-MTL two-objective landscape and the explorer's gradient plane.

objective: the losses, their Jacobian and the Pareto set (numpy); simulator: every method's starts
stepped together under Adam; cache: computed runs on disk; parallel: worker processes and the
measured cost of a step; runs: the entry that combines them; plane: one method's direction for a
few gradients in 2-D. Importing this package does not import torch: the methods are torch modules
and are imported where a trajectory or a direction is computed (in worker processes for long runs).
"""

from mtlcore.teaching.cache import cached_runs
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
from mtlcore.teaching.parallel import step_cost_us, warm_up, worker_limit, worker_pool
from mtlcore.teaching.plane import PlaneDirection, combine_in_plane
from mtlcore.teaching.runs import estimated_seconds, simulate
from mtlcore.teaching.simulator import RECORDED, MethodSpec, Progress, Trajectories, reach_table, toy_caveat

__all__ = ["EPS", "NASH_IMBALANCE", "PAPER_LR", "PAPER_STARTS", "PAPER_STEPS", "PARETO_X1", "PARETO_X2",
           "RECORDED", "REACHED", "MethodSpec", "PlaneDirection", "Progress", "Trajectories", "cached_runs",
           "combine_in_plane", "estimated_seconds", "loss_grid", "pareto_distance", "pareto_front",
           "parse_points", "reach_table", "simulate", "start_label", "step_cost_us", "toy_caveat",
           "toy_losses", "toy_losses_and_jacobian", "warm_up", "worker_limit", "worker_pool"]
