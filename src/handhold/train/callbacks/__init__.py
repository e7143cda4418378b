"""The loop's callbacks: the metric families (registered in :mod:`handhold.train.families`), the
store writer and the progress bar."""
