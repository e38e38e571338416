"""Physical neural networks (installed as ``biosim.physical``): simulated wave layers trained model-free and
memristor crossbars. Each takes the shape of the other families: a subpackage per kind (``physical/waves/``,
``physical/crossbar/``) holding its model code, its target declaration (``register("target", ...)``), the builders
of the rules that run on it, and, for experiments of its own, a ``Family`` subclass and its plots. Nothing here
is listed anywhere else: the registry finds it by scanning these sources."""
