"""docs/architecture.svg is drawn from the template (scripts/architecture_svg.py):
regenerate it and compare, so the listing's diagram cannot drift from the stack."""

import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import architecture_svg  # noqa: E402


def test_the_committed_diagram_is_the_template_drawn():
    drawn = architecture_svg.draw(architecture_svg.load())
    committed = (ROOT / "docs" / "architecture.svg").read_text()
    assert committed == drawn, "stale: .venv-iac/bin/python scripts/architecture_svg.py > docs/architecture.svg"


def test_every_service_and_data_store_is_in_the_picture():
    drawn = architecture_svg.draw(architecture_svg.load())
    for name in ["WebService", "WorkerService", "DatabaseCluster", "LoadBalancer", "KekSecret", "AuditLogGroup", "MonitoringRole", "Key"]:
        assert f">{name}<" in drawn or f">{name} (if " in drawn, f"{name} is not drawn"
