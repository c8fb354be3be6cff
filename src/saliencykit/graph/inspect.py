"""Old import path of :func:`find_node`, kept until its last caller (``saliencykit.xai``) imports it from
:mod:`saliencykit.graph.query`; then delete this module (its name shadows the standard library's in reading)."""

from .query import find_node

__all__ = ["find_node"]
