"""baseline: saved runs, their comparison, and the regression gates."""
