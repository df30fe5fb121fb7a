"""Request and response bodies of the HTTP API, with the examples shown on the OpenAPI page."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

LabelName = Literal["sovereignty", "sanctions", "ontological_security"]
NonBlank = Annotated[str, StringConstraints(min_length=1, pattern=r"[^\s]")]
Threshold = Annotated[float, Field(ge=0.0, le=1.0)]

EXAMPLE_TEXT = (
    "The ministry will fund Russian-made replacements for foreign database software in state banks.\n\n"
    "After the export ban, the plant sources microcontrollers through intermediaries in Central Asia."
)


class ClassifyRequest(BaseModel):
    """Either ``text`` (segmented into paragraphs by the service) or ``paragraphs`` (as given)."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,  # no silent coercion (false -> 0.0): the schema is the contract
        json_schema_extra={"examples": [{"text": EXAMPLE_TEXT, "explain": True},
                                        {"paragraphs": ["Wheat exports rose 4% in the third quarter."],
                                         "thresholds": {"sanctions": 0.4}}],
                           "oneOf": [{"required": ["text"]}, {"required": ["paragraphs"]}]},
    )

    # not Optional: null is as invalid as a missing field; exactly one of the two is required
    text: NonBlank = Field(None, description="A whole article; blank lines or line breaks separate paragraphs.")
    paragraphs: list[NonBlank] = Field(None, min_length=1, description="Paragraphs, scored one each.")
    explain: bool = Field(True, description="Return evidence words per label.")
    lang: Literal["en", "ru"] | None = Field(None, description="Language hint; detected per paragraph if absent.")
    thresholds: dict[LabelName, Threshold] | None = Field(None, description="Per-label decision thresholds overriding the model's.")

    @model_validator(mode="after")
    def _one_input(self) -> ClassifyRequest:
        if (self.text is None) == (self.paragraphs is None):
            raise ValueError("give exactly one of 'text' or 'paragraphs'")
        return self


class BatchDocument(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    id: Annotated[str, StringConstraints(min_length=1, max_length=512)]
    text: NonBlank


class BatchRequest(BaseModel):
    """Several documents scored in one call (``explain`` is off by default here)."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,  # no silent coercion (false -> 0.0): the schema is the contract
        json_schema_extra={"examples": [{"documents": [
            {"id": "a1", "text": "Officials say sanctions have failed and import substitution is working."},
            {"id": "a2", "text": "Rain is expected across the region on Sunday."}]}]},
    )

    documents: list[BatchDocument] = Field(min_length=1)
    explain: bool = False
    thresholds: dict[LabelName, Threshold] | None = None


class EvidenceOut(BaseModel):
    term: str = Field(description="A word of the paragraph (lower-cased).")
    weight: float = Field(description="Its share of the label's linear score; higher pushed harder.")
    spans: list[tuple[int, int]] = Field(description="Where it occurs, as offsets into the paragraph text.")


class ParagraphOut(BaseModel):
    index: int
    start: int = Field(description="Offset of the paragraph in the submitted text.")
    end: int
    text: str
    lang: str = Field(description="'ru' when mostly Cyrillic, else 'en' (or the request's lang).")
    scores: dict[str, float] = Field(description="Calibrated probability per label.")
    labels: list[str] = Field(description="Labels whose score reaches the threshold; empty means none.")
    evidence: dict[str, list[EvidenceOut]] = Field(default_factory=dict)


class LabelSummary(BaseModel):
    paragraphs: int
    share: float = Field(description="Share of paragraphs carrying the label.")
    max_score: float
    strongest_paragraph: int | None = Field(description="Index of the highest-scoring labelled paragraph.")


class Summary(BaseModel):
    paragraphs: int
    framed_paragraphs: int
    labels: dict[str, LabelSummary]


class ModelRef(BaseModel):
    name: str
    version: str


class ClassifyResponse(BaseModel):
    model: ModelRef
    thresholds: dict[str, float]
    paragraphs: list[ParagraphOut]
    summary: Summary


class BatchResult(BaseModel):
    id: str
    paragraphs: list[ParagraphOut]
    summary: Summary


class BatchResponse(BaseModel):
    model: ModelRef
    thresholds: dict[str, float]
    results: list[BatchResult]


class LabelOut(BaseModel):
    name: str
    title: str
    description: str
    include: list[str]
    exclude: list[str]
    threshold: float


class LabelsResponse(BaseModel):
    labels: list[LabelOut]


class ModelInfo(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str
    version: str
    labels: list[str]
    thresholds: dict[str, float]
    metrics: dict[str, Any]


class Health(BaseModel):
    status: str


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[dict[str, Any]] | None = None
