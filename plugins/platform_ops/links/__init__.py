"""Operator extra links: the pages in external consoles an operator's task links to.

Operators and sensors import their links from here, so no operator imports a sensor module (or the
other way round) just to share a link.
"""
