"""Batch scoring: every transaction of a day scored, and the investigators' queue."""
