"""Alternative execution backends for cross-validation (Brian2)."""
