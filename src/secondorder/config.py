"""The pipeline's configuration: defaults, validation and clear messages.

The schema (``workflow/schemas/config.schema.yaml``) is the one place where keys,
types, allowed values and defaults are written down. :func:`validate` fills the
defaults, checks every key, then checks what a schema cannot say (every arm in
``run`` exists, ranges are ordered) and raises :class:`ConfigError` naming the key
and what is allowed.
"""

from __future__ import annotations

from pathlib import Path

import jsonschema
import yaml

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"

#: Which schema in ``$defs`` checks an arm with this optimizer.
ARM_SCHEMA = {"adam": "first_order", "sgd": "first_order", "rmsprop": "first_order",
              "lm": "lm", "lbfgs": "lbfgs", "scipy_lm_fd": "scipy_lm_fd"}


class ConfigError(ValueError):
    """A configuration value is missing, unknown or out of range."""


def load_schema(path=SCHEMA_PATH) -> dict:
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def _with_defaults(validator_class):
    """A validator that also writes each property's ``default`` into the instance
    (the pattern from the jsonschema FAQ)."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if "default" in sub:
                    instance.setdefault(name, sub["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


_Validator = _with_defaults(jsonschema.Draft202012Validator)


def _describe(error: jsonschema.ValidationError, prefix: str) -> str:
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
    return f"{key}: {error.message}"


def _check(instance, schema, root, prefix="") -> list[str]:
    validator = _Validator({**schema, "$defs": root.get("$defs", {})})
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    return [_describe(e, prefix) for e in errors]


def validate(config: dict, schema: dict | None = None) -> dict:
    """Fill defaults into ``config`` (in place) and check it; return it.

    Raises :class:`ConfigError` listing every problem found, one per line.
    """
    schema = schema or load_schema()
    if not isinstance(config, dict):
        raise ConfigError("config: expected a mapping of keys to values")
    problems = _check(config, schema, schema)
    for name, arm in (config.get("arms") or {}).items():
        kind = ARM_SCHEMA.get(arm.get("optimizer")) if isinstance(arm, dict) else None
        if kind:
            problems += _check(arm, schema["$defs"][kind], schema, prefix=f"arms.{name}")
    if not problems:
        problems += _cross_checks(config)
    if problems:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems))
    return config


def _cross_checks(config: dict) -> list[str]:
    problems = []
    arms = sorted(config["arms"])
    named = [("run", name) for name in config["run"]]
    if "study" in config:
        named += [(f"study.{key}", name) for key in ("arms", "single_seed_arms")
                  for name in config["study"][key]]
    for key, name in named:
        if name not in config["arms"]:
            problems.append(f"config key '{key}': unknown arm {name!r}; defined arms are {arms}")
    data, init = config["data"], config["init"]
    if not data["scale_min"] < data["scale_max"]:
        problems.append("config key 'data.scale_min': must be below data.scale_max")
    if not init["low"] < init["high"]:
        problems.append("config key 'init.low': must be below init.high")
    for name, arm in config["arms"].items():
        if arm["optimizer"] == "lm" and not arm["mu0"] < arm["mu_max"]:
            problems.append(f"config key 'arms.{name}.mu0': must be below arms.{name}.mu_max")
    n_train = int(data["n_samples"] * data["train_fraction"])
    if n_train < 1 or n_train >= data["n_samples"]:
        problems.append("config key 'data.train_fraction': leaves an empty training or "
                        "validation set for data.n_samples")
    return problems


def load(path) -> dict:
    """Read a YAML config file and :func:`validate` it."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist")
    with open(path, encoding="utf-8") as fh:
        try:
            config = yaml.safe_load(fh)
        except yaml.YAMLError as err:
            raise ConfigError(f"config file {str(path)!r} is not valid YAML: {err}") from err
    return validate(config)
