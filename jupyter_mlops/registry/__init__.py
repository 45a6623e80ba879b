"""The model registry: versions, aliases, alias history and the validation gate."""
