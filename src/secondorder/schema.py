"""The settings schema and the check of a value against it, with clear messages.

``src/secondorder/config.schema.yaml`` is the one place where settings, their types,
allowed values and defaults are written: the pipeline's configuration
(:mod:`secondorder.config`) and, under ``$defs``, the settings of each kind of arm
(:mod:`secondorder.optim.arms`). This module only reads it and checks values against
it, so the library's arms and the pipeline's config share one check without importing
each other. Names that code defines (the optimizers, the damping rules) are filled in
by those who own them (:func:`secondorder.optim.arms.settings_schema`).
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Mapping
from pathlib import Path

import jsonschema
import numpy as np
import yaml

SCHEMA_PATH = Path(__file__).with_name("config.schema.yaml")  # shipped in the package


class ConfigError(ValueError):
    """A configuration value is missing, unknown or out of range."""


@functools.cache
def _parsed(path: Path) -> dict:
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def read(path=SCHEMA_PATH) -> dict:
    """The schema as written in ``path`` (a fresh copy: callers may fill it in)."""
    return copy.deepcopy(_parsed(Path(path)))


def _with_defaults(validator_class):
    """A validator that also writes each property's ``default`` (a copy of it) into the
    instance (the pattern from the jsonschema FAQ)."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if "default" in sub and name not in instance:
                    instance[name] = copy.deepcopy(sub["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


_Validator = _with_defaults(jsonschema.Draft202012Validator)


def describe(error: jsonschema.ValidationError, prefix: str) -> str:
    """One line naming the key and what it must be."""
    path = ".".join([prefix] * bool(prefix) + [str(p) for p in error.absolute_path])
    key = f"config key '{path}'" if path else "config"
    validator, expected = error.validator, error.validator_value
    if validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        unknown = sorted(set(error.instance) - set(allowed))
        return f"{key}: unknown key(s) {unknown}; allowed keys are {allowed}"
    if validator == "required":
        return f"{key}: {error.message}"
    if validator == "enum":
        return f"{key}: {error.instance!r} is not allowed; allowed values are {expected}"
    if validator == "const":
        return f"{key}: must be {expected!r}, got {error.instance!r}"
    if validator == "type":
        return f"{key}: {error.instance!r} has the wrong type; expected {expected}"
    if validator in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        words = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=",
                 "exclusiveMaximum": "<"}
        return f"{key}: {error.instance!r} is out of range; it must be {words[validator]} {expected}"
    if validator in ("minItems", "minProperties"):
        return f"{key}: must not be empty"
    if validator in ("oneOf", "anyOf") and error.schema.get("description"):
        return f"{key}: {error.instance!r} is not allowed; {error.schema['description']}"
    return f"{key}: {error.message}"


def problems(instance, schema: dict, root: dict, prefix: str = "") -> list[str]:
    """Every problem of ``instance`` against ``schema`` (a part of ``root``, whose
    ``$defs`` it may refer to), one line each, sorted by key; the defaults of
    ``schema`` are filled into ``instance`` (in place) as it is checked."""
    validator = _Validator({**schema, "$defs": root.get("$defs", {})})
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    return [describe(e, prefix) for e in errors]


def check_block(settings: Mapping, block: str, root: dict | None = None,
                prefix: str = "arm") -> tuple[dict, list[str]]:
    """``settings`` checked against ``$defs/<block>`` of ``root`` (default: the schema as
    written): ``(values, problems)``, ``values`` a copy with the defaults filled in and
    numpy scalars as the plain numbers YAML gives, ``problems`` one line each."""
    root = read() if root is None else root
    values = {k: v.item() if isinstance(v, np.generic) else copy.deepcopy(v)
              for k, v in settings.items()}
    return values, problems(values, root["$defs"][block], root, prefix)


def invalid(found: list[str], what: str = "arm settings") -> ConfigError:
    """The error listing ``found`` problems of ``what``, one per line."""
    return ConfigError(f"invalid {what}:\n  " + "\n  ".join(found))
