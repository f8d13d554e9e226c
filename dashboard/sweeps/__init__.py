"""The Sweep page's logic: the Pareto plot and the reading of clicks on it (charts)."""
