"""dendritic"""
