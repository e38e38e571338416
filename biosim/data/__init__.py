"""Datasets of the registry: generators and readers for local files (nothing is downloaded)."""
