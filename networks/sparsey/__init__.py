"""sparsey"""
