"""How good a model is and whether the world moved: metrics, the quality gates, drift reports,
the review of a promotion, shadow comparison, a rollout's evidence (`canary`) and the plots logged
beside them."""
