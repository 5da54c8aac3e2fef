"""Search: parameters compiled from the official SearchParameter definitions."""
