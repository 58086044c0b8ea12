"""Archives: many videos as one job with stable output names, a manifest of what finished,
resume, and workers on a Ray cluster that each hold one loaded model session."""
