"""Ranking files of any size: one core that validates, scores and accounts a stream of frames, run in this
process (`local`) or on each partition of a Dask cluster (`cluster`); sorted runs merge the local output."""
