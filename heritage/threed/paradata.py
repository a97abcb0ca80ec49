"""Paradata of a 3D model and its quality report.

The EU's 3D digitisation guidance describes a model in three information layers:
the *file data* (the model and its technical properties: what the analysis
finds), the *metadata* (the record that describes the object) and the *paradata*
(how the model was made). ``Paradata`` holds the third; ``quality_report``
weighs all three and says what is missing.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Method = Literal["photogrammetry", "laser-scanning", "structured-light", "ct", "modelling", "other"]
UNITS = ("m", "cm", "mm", "in", "ft")


class Step(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str = Field(min_length=1, max_length=2000)
    software: str | None = Field(None, max_length=200)
    version: str | None = Field(None, max_length=100)


class Paradata(BaseModel):
    """How a 3D model was made (every field optional: the quality report counts them)."""

    model_config = ConfigDict(extra="forbid")

    method: Method | None = None
    device: str | None = Field(None, max_length=500)
    captured_on: date | None = None
    operator: str | None = Field(None, max_length=500)
    object_movable: bool | None = None
    environment_controlled: bool | None = None
    accuracy_mm: float | None = Field(None, ge=0)
    resolution_mm: float | None = Field(None, ge=0)
    uncertainty_mm: float | None = Field(None, ge=0)
    units: Literal["m", "cm", "mm", "in", "ft"] | None = None  # of the model's coordinates
    software: list[str] = Field(default_factory=list, max_length=50)
    steps: list[Step] = Field(default_factory=list, max_length=200)
    notes: str | None = Field(None, max_length=10_000)


# field -> why it matters, for the report's list of what is missing
EXPECTED = {
    "method": "the acquisition method (photogrammetry, laser scanning, ...)",
    "device": "the capture device",
    "captured_on": "the date of capture",
    "operator": "who captured it",
    "object_movable": "whether the object is movable or immovable",
    "environment_controlled": "whether the environment was controlled",
    "accuracy_mm": "the accuracy",
    "resolution_mm": "the resolution",
    "uncertainty_mm": "the uncertainty",
    "units": "the units of the coordinates (needed to measure)",
    "software": "the processing software",
    "steps": "the processing steps",
}


def paradata_missing(paradata: Paradata) -> list[str]:
    return [name for name in EXPECTED if getattr(paradata, name) in (None, [], "")]


def model_units(analysis: dict[str, Any], paradata: Paradata) -> str | None:
    """The units the model's coordinates are in: what the people who made it say, else
    what the format defines (glTF: metres); None when nobody knows."""
    return paradata.units or analysis.get("units")


def quality_report(
    analysis: dict[str, Any] | None,
    paradata: Paradata,
    record_complete: bool,
    derivatives: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The three layers' completeness, the analysis's findings and what is missing,
    with a score from 0 to 100 (each layer weighs a third)."""
    findings: list[str] = []
    missing: list[str] = []
    file_score = 0.0
    if not analysis:
        missing.append("the analysis of the model (not done yet, or the model was rejected)")
    else:
        file_score = 1.0
        kind = analysis.get("kind")
        if kind == "mesh":
            if not analysis.get("watertight"):
                findings.append("the mesh is not watertight (it has holes or open borders)")
                file_score -= 0.15
            if analysis.get("non_manifold_edges"):
                findings.append(f"{analysis['non_manifold_edges']} non-manifold edges")
                file_score -= 0.15
            if analysis.get("degenerate_faces"):
                findings.append(f"{analysis['degenerate_faces']} degenerate faces")
                file_score -= 0.1
            if not analysis.get("normals"):
                findings.append("no normals in the file (viewers compute them)")
                file_score -= 0.05
        if analysis.get("missing_files"):
            findings.append(
                "files the model names are missing: " + ", ".join(analysis["missing_files"])
            )
            file_score -= 0.3
        if not (analysis.get("vertex_count") or analysis.get("point_count")):
            findings.append("the model holds no geometry")
            file_score = 0.0
        if not model_units(analysis, paradata):
            missing.append("the units of the coordinates: measurements have no scale")
            file_score -= 0.1
        if derivatives is not None and not derivatives.get("files"):
            missing.append("web derivatives (the viewer shows the master, if it can)")
    absent = paradata_missing(paradata)
    paradata_score = 1 - len(absent) / len(EXPECTED)
    missing += [f"paradata: {EXPECTED[name]}" for name in absent]
    if not record_complete:
        missing.append("metadata: the record has validation errors")
    metadata_score = 1.0 if record_complete else 0.5
    score = round(100 * (max(file_score, 0.0) + paradata_score + metadata_score) / 3)
    return {
        "score": score,
        "layers": {
            "file_data": round(max(file_score, 0.0), 2),
            "metadata": metadata_score,
            "paradata": round(paradata_score, 2),
        },
        "findings": findings,
        "missing": missing,
    }
