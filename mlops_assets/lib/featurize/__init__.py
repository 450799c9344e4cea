"""Features from validated transactions, their spec, the import into Feast's offline tables, and
point-in-time correct joins for training sets."""
