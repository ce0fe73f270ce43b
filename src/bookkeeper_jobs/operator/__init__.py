"""The kopf operator: BookkeepingJob resources become batch/v1 Jobs (see README.md here)."""
