"""Late labels: `POST /feedback` and label files reach `validated_transactions` by re-validating
the days of their transactions."""
