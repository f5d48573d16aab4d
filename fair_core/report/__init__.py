"""The report stage without Prefect: round summary numbers, plots, artifact markdown and the HTML page."""
