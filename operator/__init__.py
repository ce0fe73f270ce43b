"""The kopf operator of cluster mode: BookkeepingJob resources become batch/v1 Jobs."""
