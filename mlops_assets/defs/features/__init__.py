"""Stage 3: customer and merchant features into Feast (offline tables, online store), and the
point-in-time correct training set."""
