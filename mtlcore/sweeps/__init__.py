"""Sweeps: static task weights over a grid on the simplex plus dynamic methods, times seeds.

config (SweepConfig), plan (the simplex grid, one RunConfig per run), execute (record the runs under
one group id and train them through mtlcore.runs, locally or on Ray), results (sweep tables, the
group's Pareto points), pareto (the non-dominated front), delta_m (one number against single-task
baselines). No torch import at package level.
"""
