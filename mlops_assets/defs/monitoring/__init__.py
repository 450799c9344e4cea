"""Stage 6: drift reports of each day against the champion's reference."""
