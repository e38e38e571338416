"""Plug-in local learning rules (installed as ``biosim.rules``). One file per rule family."""
