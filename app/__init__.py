"""Framing classifier: paragraph-level framing tags for news and analysis texts.

    >>> from app import FramingModel
    >>> FramingModel.load().predict(["Sanctions pushed the plant to buy chips through Kazakhstan."])
"""

from .labels import LABELS, Label, load_codebook
from .model import FramingModel, ModelLoadError
from .segment import Paragraph, segment

__all__ = ["LABELS", "FramingModel", "Label", "ModelLoadError", "Paragraph", "load_codebook", "segment"]
