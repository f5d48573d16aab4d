"""FAIR core: pure logic and adapters (config, data, answers, prompts, review, store, teachers, students,
training). Never imports Prefect."""

__version__ = "0.1.0"
