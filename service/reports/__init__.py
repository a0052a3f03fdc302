"""Finance reports: training spend, actual where known and estimated otherwise."""
