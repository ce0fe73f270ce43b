"""The parts of ``bench/side_by_side.py``: the servers it starts, the data it seeds, the wrk
runs and the report."""
