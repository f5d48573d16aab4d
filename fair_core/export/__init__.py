"""Hub-ready export of a finished run: the distilled dataset with its card, the student with its model card
(`export_run`), and the push to the Hugging Face Hub (`hub.push_folder`)."""

from fair_core.export.bundle import ExportResult, export_run
from fair_core.export.cards import Names
from fair_core.export.source import ExportError

__all__ = ["ExportError", "ExportResult", "Names", "export_run"]
