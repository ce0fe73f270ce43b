"""The seed guide's design, rebuilt as the baseline of ``bench/side_by_side.py``: FastAPI + RQ
+ Redis, its routes, progress in ``job.meta``. Not part of the product."""
