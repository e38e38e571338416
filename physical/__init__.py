"""Physical neural networks: wave layers and crossbars (installed as ``biosim.physical``); future issues."""
