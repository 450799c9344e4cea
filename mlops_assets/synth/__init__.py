"""The transaction simulator and its truth graph: test and demo data, outside the production path."""
