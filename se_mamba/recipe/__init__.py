"""Recipe entry points shared by every recipe (train, enhance, score, ...)."""
