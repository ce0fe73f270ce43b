"""bookkeeper-jobs: background jobs for an AI bookkeeping service."""
