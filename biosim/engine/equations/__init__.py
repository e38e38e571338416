"""Neuron models written as equations in Brian2's syntax: analysed by Brian2, compiled into the fused kernel."""

from biosim.engine.equations.model import EquationNeuron

__all__ = ["EquationNeuron"]
