"""The Compare page's logic: reading curves from the store (data) and the figures (charts)."""
