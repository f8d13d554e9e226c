"""The Runs page's logic: the runs table and its exports (table)."""
