"""The quality report: the three information layers weighed, findings and what is missing."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from heritage.threed.paradata import EXPECTED, Paradata, quality_report

GOOD_MESH = {
    "kind": "mesh",
    "vertex_count": 8,
    "face_count": 12,
    "watertight": True,
    "non_manifold_edges": 0,
    "degenerate_faces": 0,
    "normals": True,
    "missing_files": [],
    "units": "m",
}
FULL = Paradata(
    method="laser-scanning",
    device="Leica RTC360",
    captured_on="2026-05-04",
    operator="Survey team",
    object_movable=False,
    environment_controlled=False,
    accuracy_mm=1.9,
    resolution_mm=3.0,
    uncertainty_mm=2.5,
    units="m",
    software=["Cyclone REGISTER 360"],
    steps=[{"description": "registered 14 scans"}],
)


def test_complete_model_scores_full_marks() -> None:
    report = quality_report(GOOD_MESH, FULL, record_complete=True, derivatives={"files": {"x": 1}})
    assert report == {
        "score": 100,
        "layers": {"file_data": 1.0, "metadata": 1.0, "paradata": 1.0},
        "findings": [],
        "missing": [],
    }


def test_findings_and_missing_are_named() -> None:
    flawed = GOOD_MESH | {
        "watertight": False,
        "non_manifold_edges": 3,
        "normals": False,
        "missing_files": ["wood.png"],
        "units": None,
    }
    report = quality_report(flawed, Paradata(), record_complete=False)
    assert report["findings"] == [
        "the mesh is not watertight (it has holes or open borders)",
        "3 non-manifold edges",
        "no normals in the file (viewers compute them)",
        "files the model names are missing: wood.png",
    ]
    assert "the units of the coordinates: measurements have no scale" in report["missing"]
    assert len([line for line in report["missing"] if line.startswith("paradata:")]) == len(
        EXPECTED
    )
    assert "metadata: the record has validation errors" in report["missing"]
    assert report["layers"]["paradata"] == 0 and report["score"] < 40


def test_unanalysed_model_and_bad_paradata() -> None:
    report = quality_report(None, FULL, record_complete=True)
    assert report["layers"]["file_data"] == 0
    assert report["missing"][0].startswith("the analysis of the model")
    with pytest.raises(ValidationError):
        Paradata(accuracy_mm=-1)
    with pytest.raises(ValidationError):
        Paradata(method="guesswork")
