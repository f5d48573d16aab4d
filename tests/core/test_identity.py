"""The identity policy over every config field: the config hash, every task's cache key, request keys."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import types
import typing
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any, Literal

import pytest
from pydantic import BaseModel, ValidationError

import tasks
from fair_core.config import FairConfig, Section, TeacherConfig, TrainingConfig, parse_config, section_path
from fair_core.identity import (
    OMIT_WHEN_EMPTY,
    VOLATILE,
    is_volatile,
    leaf_paths,
    result_view,
    section_paths,
    teacher_identity,
)
from fair_core.records import Message
from fair_core.teachers.base import ChatRequest
from tasks.caching import content_cache_key, fingerprint

TEACHERS = [{"name": "a", "model": "m1"}, {"name": "b", "provider": "gemini", "model": "m2"}]
LEAVES = list(leaf_paths(FairConfig))


def base_config() -> FairConfig:
    return parse_config({"teachers": TEACHERS})


def _parts(path: str) -> list[str]:
    return [p for p in path.split(".") if p]


def _at(node: Any, parts: list[str]) -> Any:
    for part in parts:
        node = node[0] if part == "*" else getattr(node, part)
    return node


def _candidates(annotation: Any, current: Any) -> Iterator[Any]:
    """Values of the field's type that differ from `current` (the first valid one is used)."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        for arg in args:
            yield from _candidates(arg, current)
        if current is not None:
            yield None
        return
    origin = typing.get_origin(annotation) or annotation
    if origin is Literal:
        yield from (a for a in args if a != current)
    elif origin is bool:
        yield not current
    elif origin is int:
        yield from ((current or 0) + 1, (current or 0) + 2, 2)
    elif origin is float:
        yield from ((current or 0.5) * 0.5, 0.3, 0.75, 2.0)
    elif origin is str:
        yield f"{current}-changed" if current else "changed"
    elif origin is list:
        if args and typing.get_origin(args[0]) is Literal:  # a list of choices: one of them
            yield from ([a] for a in typing.get_args(args[0]) if [a] != current)
        yield from ([*(current or []), "x"], ["x"], [1])
    elif origin is dict:
        yield from ({"HARM_CATEGORY_HARASSMENT": "BLOCK_NONE"}, {"x": 0.5})
        yield {"training": "stage-training/gpu"}  # stages.deployments
    else:
        raise AssertionError(f"no candidate values for {annotation!r}")


def changed(config: FairConfig, path: str) -> FairConfig:
    """A deep copy of `config` with the field at `path` (list items: the first) set to a different value."""
    copy = config.model_copy(deep=True)
    *parents, name = _parts(path)
    owner = _at(copy, parents)
    current = getattr(owner, name)
    for value in _candidates(type(owner).model_fields[name].annotation, current):
        if value == current:
            continue
        try:
            setattr(owner, name, value)
        except ValidationError:
            continue
        return copy
    raise AssertionError(f"{path}: found no other valid value than {current!r}")


def test_every_declared_path_is_a_field() -> None:
    assert set(VOLATILE) <= set(LEAVES), set(VOLATILE) - set(LEAVES)
    assert set(OMIT_WHEN_EMPTY) <= set(LEAVES) - set(VOLATILE)
    assert all(reason.strip() for reason in VOLATILE.values())
    assert not is_volatile("training.batch_size")  # it changes the trained model
    assert is_volatile("student.batch_size")


def test_every_section_has_its_path() -> None:
    def subclasses(cls: type) -> set[type]:
        return {c for sub in cls.__subclasses__() for c in {sub, *subclasses(sub)}}

    paths = section_paths(FairConfig)
    sections = {c for c in subclasses(Section) if c.__module__.startswith("fair_core.config")}
    sweep = {c for c in sections if c.__module__ == "fair_core.config.sweep"}  # lists runs, is none of them
    assert sections - sweep <= set(paths)
    assert len(set(paths.values())) == len(paths)
    assert section_path(TeacherConfig) == "teachers.*" and section_path(FairConfig) == ""
    assert section_path(TrainingConfig) == "training"


@pytest.mark.parametrize("path", LEAVES)
def test_config_hash_follows_the_policy(path: str) -> None:
    config = base_config()
    other = changed(config, path)
    if is_volatile(path):
        assert other.config_hash() == config.config_hash(), f"{path} is volatile"
        assert other.run_id() == config.run_id()
    else:
        assert other.config_hash() != config.config_hash(), f"{path} can change a result"


def _section_of(annotation: Any, module_globals: dict[str, Any]) -> type[Section] | None:
    if isinstance(annotation, str):
        try:
            annotation = eval(annotation, module_globals)
        except Exception:  # a name only imported for type checking: not a config section
            return None
    if isinstance(annotation, type) and issubclass(annotation, Section):
        return annotation
    for arg in typing.get_args(annotation):  # `X | None`
        if isinstance(arg, type) and issubclass(arg, Section):
            return arg
    return None


def prefect_tasks() -> list[Any]:
    """Every Prefect task defined in a module of the `tasks` package (found, not listed)."""
    from prefect import Task

    found: dict[int, Any] = {}
    for info in pkgutil.walk_packages(tasks.__path__, "tasks."):
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if isinstance(value, Task) and value.fn.__module__.startswith("tasks"):
                found[id(value)] = value
    return sorted(found.values(), key=lambda t: t.name)


def section_parameters(task: Any) -> dict[str, type[Section]]:
    fn = task.fn
    return {
        name: cls
        for name, p in inspect.signature(fn).parameters.items()
        if (cls := _section_of(p.annotation, fn.__globals__)) is not None
    }


TASK_CASES = [
    pytest.param(task, name, cls, id=f"{task.name}:{name}")
    for task in prefect_tasks()
    for name, cls in section_parameters(task).items()
]


def test_tasks_reading_sections_are_found() -> None:
    assert len(TASK_CASES) >= 3
    read = {case.values[2] for case in TASK_CASES}
    assert {TeacherConfig, TrainingConfig} <= read, read


@pytest.mark.parametrize(("task", "parameter", "section"), TASK_CASES)
def test_task_cache_keys_follow_the_policy(task: Any, parameter: str, section: type[Section]) -> None:
    config = base_config()
    prefix = section_path(section)
    names = inspect.signature(task.fn).parameters
    sections = section_parameters(task)
    context = SimpleNamespace(task=SimpleNamespace(name=task.name))

    def key(cfg: FairConfig) -> str:
        values = {n: _at(cfg, _parts(section_path(sections[n]))) if n in sections else "x" for n in names}
        return content_cache_key(context, values)

    before = key(config)
    leaves = [leaf for leaf in LEAVES if not prefix or leaf.startswith(prefix + ".")]
    assert leaves
    for leaf in leaves:
        after = key(changed(config, leaf))
        if is_volatile(leaf):
            assert after == before, f"{task.name}: volatile {leaf} changed the cache key"
        else:
            assert after != before, f"{task.name}: {leaf} did not change the cache key"


def test_training_batch_size_is_in_the_training_view() -> None:
    config = base_config()
    bigger = changed(config, "training.batch_size")
    assert fingerprint(bigger.training) != fingerprint(config.training)
    assert fingerprint(changed(config, "training.save_steps").training) == fingerprint(config.training)
    assert fingerprint(config.student) == result_view(config.student, "student")
    assert "batch_size" not in fingerprint(config.student) and "vllm" in fingerprint(config.student)


def test_teacher_views_keep_their_shape() -> None:
    """The teacher parts of the run id and cache keys are what they were before `fair_core.identity`."""
    plain = TeacherConfig(name="gpt", model="gpt-4o-mini", base_url="http://x/v1", rpm=3, note="n")
    assert teacher_identity(plain) == plain.identity()
    assert plain.identity() == {
        "provider": "openai",
        "model": "gpt-4o-mini",
        "temperature": 0.8,
        "max_tokens": 512,
        "top_p": None,
    }
    assert fingerprint(plain) == plain.identity() | {"name": "gpt"}
    safe = plain.model_copy(update={"safety_settings": {"B": "BLOCK_NONE", "A": "BLOCK_ONLY_HIGH"}})
    assert safe.identity()["safety_settings"] == {"A": "BLOCK_ONLY_HIGH", "B": "BLOCK_NONE"}
    assert result_view(base_config())["teachers"][0] == base_config().teachers[0].identity() | {"name": "a"}


def test_request_keys_are_byte_for_byte_the_same() -> None:
    """Keys computed before the identity module existed: the teacher cache stays valid."""
    gemini = TeacherConfig(
        name="g",
        provider="gemini",
        model="gemini-x",
        temperature=0.3,
        max_tokens=100,
        top_p=0.9,
        safety_settings={"HARM_CATEGORY_B": "BLOCK_NONE", "HARM_CATEGORY_A": "BLOCK_ONLY_HIGH"},
        base_url="http://x",
        rpm=5,
    )
    messages = [Message("system", "Be brief."), Message("user", "What is 2+2?")]
    request = ChatRequest.for_teacher(gemini, messages, sample=2)
    assert request.key() == "33980dcb3bbc2fd56a9f06b43edb0a0930c51333f544d7da7d917d08ac1d9a9d"
    assert request.safety == (("HARM_CATEGORY_A", "BLOCK_ONLY_HIGH"), ("HARM_CATEGORY_B", "BLOCK_NONE"))
    openai = TeacherConfig(name="gpt", model="gpt-4o-mini")
    assert (
        ChatRequest.for_teacher(openai, messages).key()
        == "b33d073cee46ff064561caca6bd9568643ac4498ee511bc0243b588791bc2875"
    )
    moved = openai.model_copy(update={"name": "other", "base_url": "http://y/v1", "max_concurrency": 1})
    assert ChatRequest.for_teacher(moved, messages).key() == ChatRequest.for_teacher(openai, messages).key()


def test_result_view_of_a_plain_model() -> None:
    class Plain(BaseModel):
        a: int = 1

    assert result_view(Plain()) == {"a": 1}
