"""The teaching pages' logic (Landscape, Conflict explorer): their figures (charts)."""
