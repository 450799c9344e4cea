"""Stage 7: the champion packaged as a Bento (the service in `serving/`), ready for `bentoml serve`
or `bentoml containerize`."""
