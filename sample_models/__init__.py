"""Sample models and their validation.yaml files (built reproducibly, never downloaded)."""
