"""Usage feature: shared tokens-per-minute pools per organisation and model family."""
