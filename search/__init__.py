"""Studies: Optuna samplers, Ray execution, storage, Pareto fronts and the CLI."""
