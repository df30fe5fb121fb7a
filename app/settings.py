"""Service settings, read once from the environment (prefix ``FRAMING_``) or a ``.env`` file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from .model import DEFAULT_MODEL_PATH


class Settings(BaseSettings):
    """All knobs of the service. Lists accept comma-separated values: ``FRAMING_API_KEYS=a,b``."""

    model_config = SettingsConfigDict(env_prefix="FRAMING_", env_file=".env", extra="ignore")

    model_path: Path = Field(DEFAULT_MODEL_PATH, description="The skops artifact; its .json sits beside it.")
    max_body_bytes: int = Field(2_000_000, ge=1_000, description="Largest request body accepted (413 above).")
    max_paragraphs: int = Field(5_000, ge=1, description="Most paragraphs scored per request (413 above).")
    max_batch_documents: int = Field(100, ge=1, description="Most documents in one /v1/classify/batch call.")
    max_paragraph_chars: int = Field(2_000, ge=100, description="Longer paragraphs are split at sentences.")
    explain_top_k: int = Field(5, ge=1, le=50, description="Evidence words per label.")
    api_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="If set, every route but /, /healthz and /readyz needs one."
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    otel: bool = Field(False, description="FastAPI's native OpenTelemetry spans, metrics and logs (off: "
                       "the service has its own Prometheus /metrics, and the check costs every request).")
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    @field_validator("api_keys", "cors_origins", mode="before")
    @classmethod
    def _split_commas(cls, value):
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        return value
