"""The candidate models, the Bayesian network and its discretization, the graphs drawn of it, and
the MLflow registry glue (versions, aliases, the pyfunc wrapper)."""
