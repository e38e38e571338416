"""Model families assembled from core pieces (installed as ``biosim.networks``)."""
