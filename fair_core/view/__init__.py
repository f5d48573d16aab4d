"""The data viewer of a run (`fair view`): Parquet queries, a local JSON server and a static share folder."""

from fair_core.view.query import Filters, RunView, ViewError

__all__ = ["Filters", "RunView", "ViewError"]
