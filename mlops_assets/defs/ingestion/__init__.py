"""Stage 1: raw transactions from the landing folder into daily lake partitions."""
