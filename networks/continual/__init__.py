"""Continual learning of task sequences (issue 13): HLOP and the alternatives it is compared with."""
