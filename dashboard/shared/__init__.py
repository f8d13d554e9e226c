"""What several pages share: the run store handle and URL state, the catalogue of the core, widgets
generated from parameter specs, one run's charts and its live reading, and the in-place chart component."""
