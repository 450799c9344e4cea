"""Stage 2: validated and quarantined transactions, with the data checks that guard them."""
