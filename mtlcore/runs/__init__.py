"""The run life cycle: the store (all SQL), the local queue and its limit, worker processes (cold
and warm), the executors (local workers or Ray) and the runner that turns a RunConfig into a
trained, stored run. Only `runner` imports torch; the rest is light enough for pages.
"""
