"""How good a model is and whether the world moved: metrics, the quality gates, drift reports,
the investigators' review, shadow comparison and the plots logged beside them."""
