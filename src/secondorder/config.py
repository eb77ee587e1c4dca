"""The pipeline's configuration: defaults, validation and clear messages.

The schema (``src/secondorder/config.schema.yaml``) is the one place where keys,
types, allowed values and defaults are written down. :func:`validate` fills the
defaults, checks every key, then checks what a schema cannot say (every arm in
``run`` exists, ranges are ordered) and raises :class:`ConfigError` naming the key
and what is allowed.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from secondorder.optim import arms
from secondorder.schema import ConfigError, invalid, problems as _check


def load_schema() -> dict:
    """The settings schema (``config.schema.yaml``) as the config is checked against
    it: the registry's names filled in (:func:`secondorder.optim.arms.settings_schema`)
    and the settings that say "as in an lm arm" (``bench.lm_fast``,
    ``study.lm_jacobian``) given the lm arm's allowed values."""
    schema = arms.settings_schema()
    lm = schema["$defs"]["lm"]["properties"]
    fast = schema["properties"]["bench"]["properties"]["lm_fast"]["properties"]
    for key, sub in fast.items():
        if "enum" in lm[key]:
            sub["enum"] = lm[key]["enum"]
    study = schema["properties"]["study"]["properties"]
    study["lm_jacobian"]["enum"] = [None, *lm["jacobian"]["enum"]]
    return schema


def validate(config: dict, schema: dict | None = None) -> dict:
    """Fill defaults into ``config`` (in place) and check it; return it, each arm made
    an :class:`secondorder.optim.arms.Arm` (checked once, here, for all who use it).

    Raises :class:`ConfigError` listing every problem found, one per line.
    """
    schema = schema or load_schema()
    if not isinstance(config, dict):
        raise ConfigError("config: expected a mapping of keys to values")
    problems = _check(config, schema, schema)
    typed = {}
    for name, arm in (config.get("arms") or {}).items():
        if isinstance(arm, dict) and arm.get("optimizer") in arms.REGISTRY:
            typed[name], found = arms.check(arm, prefix=f"arms.{name}")
            problems += found
    if not problems:
        config["arms"].update(typed)
        problems += _cross_checks(config)
    if problems:
        raise invalid(problems, "configuration")
    return config


def _cross_checks(config: dict) -> list[str]:
    problems = []
    arms = sorted(config["arms"])
    named = [("run", name) for name in config["run"]]
    if "study" in config:
        named += [(f"study.{key}", name) for key in ("arms", "single_seed_arms",
                                                     "reordered_arms")
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
    if "suite" in config:
        problems += _suite_checks(config["suite"])
    n_train = int(data["n_samples"] * data["train_fraction"])
    if n_train < 1 or n_train >= data["n_samples"]:
        problems.append("config key 'data.train_fraction': leaves an empty training or "
                        "validation set for data.n_samples")
    return problems


def _suite_checks(suite: dict) -> list[str]:
    """The suite's arms against their optimizer's schema, the same tuning budget for
    every arm, and :func:`_suite_scope_checks`."""
    problems = []
    for name, spec in suite["arms"].items():
        key = f"suite.arms.{name}"
        if len(spec["grid"]) != suite["grid_points"]:
            problems.append(f"config key '{key}.grid': has {len(spec['grid'])} points; "
                            f"every arm needs suite.grid_points = {suite['grid_points']} "
                            "(the same tuning budget)")
        for g, point in enumerate(spec["grid"]):
            arm = {**spec["base"], **point, "inputs": "standardised"}
            if arm.get("optimizer") not in arms.REGISTRY:
                problems.append(f"config key '{key}.base.optimizer': must be one of "
                                f"{sorted(arms.REGISTRY)}, got {arm.get('optimizer')!r}")
                break
            problems += arms.check(arm, prefix=f"{key}.grid[{g}]")[1]
    problems += _suite_scope_checks(suite)
    return problems


def _suite_scope_checks(suite: dict) -> list[str]:
    """Known problems (built in or ``csv_problems``, whose files are read and checked
    here: each joins the full suite), second-order arms among the arms, and every scope
    inside the full suite (its problems: any known one)."""
    from secondorder.problem.datasets import DATASETS, csv_dataset, known_problems

    problems = []
    csv = suite.get("csv_problems") or {}
    for name in suite["problems"]:
        if name not in DATASETS and name not in csv:
            problems.append(f"config key 'suite.problems': unknown problem {name!r}; built in "
                            f"are {sorted(DATASETS)}, CSV problems {sorted(csv)}")
    for name, spec in csv.items():
        if name in DATASETS:
            problems.append(f"config key 'suite.csv_problems.{name}': the name is taken by a "
                            "built-in problem")
        else:
            try:
                csv_dataset(name, spec)
            except ValueError as exc:
                problems.append(str(exc))
    for name in suite["second_order"]:
        if name not in suite["arms"]:
            problems.append(f"config key 'suite.second_order': {name!r} is not one of the "
                            f"suite's arms {sorted(suite['arms'])}")
    scope_names = ["full", *suite["scopes"]]
    if suite["in_article"] not in scope_names + ["none"]:
        problems.append(f"config key 'suite.in_article': must be one of "
                        f"{scope_names + ['none']}, got {suite['in_article']!r}")
    for scope, part in suite["scopes"].items():
        for item in part.get("problems", []):
            if item not in known_problems(suite):
                problems.append(f"config key 'suite.scopes.{scope}.problems': unknown problem "
                                f"{item!r}; known are {known_problems(suite)}")
        for what, pool in (("sizes", list(suite["sizes"])), ("arms", list(suite["arms"]))):
            for item in part.get(what, []):
                if item not in pool:
                    problems.append(f"config key 'suite.scopes.{scope}.{what}': {item!r} is "
                                    f"not in the full suite's {what} {pool}")
        if not set(part.get("arms", suite["arms"])) & set(suite["second_order"]):
            problems.append(f"config key 'suite.scopes.{scope}.arms': no second-order arm "
                            f"({suite['second_order']}) to judge")
    return problems + _suite_primary_checks(suite)


def _suite_primary_checks(suite: dict) -> list[str]:
    """The primary question names a scope, a second-order arm, a comparison with rivals
    and one of the tolerances, and every scope holds its cells' sizes (or declares its
    own cells) and its budget."""
    declared = suite["primary"]
    key = "config key 'suite.primary"
    names = ["full", *suite["scopes"]]
    problems = []
    if declared["scope"] not in names:
        problems.append(f"{key}.scope': must be one of {names}, got {declared['scope']!r}")
    if declared["second_order"] not in suite["second_order"]:
        problems.append(f"{key}.second_order': must be one of suite.second_order "
                        f"{suite['second_order']}, got {declared['second_order']!r}")
    if not [a for a, spec in suite["arms"].items() if a not in suite["second_order"]
            and spec.get("comparison", "ssq") == declared["comparison"]]:
        problems.append(f"{key}.comparison': no arm of the suite is a rival in "
                        f"{declared['comparison']!r}")
    if declared["tolerance"] not in suite["tolerances"]:
        problems.append(f"{key}.tolerance': must be one of suite.tolerances")
    for name in names:
        part = suite["scopes"].get(name, {})
        sizes = part.get("sizes", list(suite["sizes"]))
        own = {**declared, **part.get("primary", {})}
        for cell in own["cells"]:
            if cell.get("size", sizes[0]) not in sizes:
                problems.append(f"{key}.cells': size {cell['size']!r} is not one of scope "
                                f"{name!r}'s sizes {sizes}; give the scope its own primary "
                                f"cells (suite.scopes.{name}.primary)")
        arms = part.get("arms", list(suite["arms"]))
        if not [a for a in arms if a not in suite["second_order"]
                and suite["arms"].get(a, {}).get("comparison", "ssq") == own["comparison"]]:
            problems.append(f"config key 'suite.scopes.{name}.arms': no rival of the "
                            f"primary comparison {own['comparison']!r}; give the scope its "
                            f"own primary (suite.scopes.{name}.primary)")
        cap = part.get("cap_s", suite["cap_s"])
        if own["budget"] != "cap" and own["budget"] > cap:
            problems.append(f"{key}.budget': {own['budget']} s is above scope {name!r}'s "
                            f"cap {cap} s")
    return problems


def deep_update(base: dict, overlay: dict) -> dict:
    """``base`` with ``overlay`` merged in, mappings key by key (as Snakemake merges
    config files); other values replace. Returns a new dict."""
    import copy

    out = copy.deepcopy(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_update(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def with_suite(config: dict, suite_yaml) -> dict:
    """``config`` with the suite's settings: ``suite_yaml`` (``config/suite.yaml``) as
    the base and the config's own ``suite`` keys, if any, merged on top, so a config
    file can change a few suite settings without repeating the rest."""
    with open(suite_yaml, encoding="utf-8") as fh:
        base = yaml.safe_load(fh)
    config["suite"] = deep_update(base["suite"], config.get("suite") or {})
    return config


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


# --- documentation ------------------------------------------------------------------------

def _optimizers_of(kind: str) -> list[str]:
    """The optimizers whose arms the schema's ``$defs/<kind>`` checks."""
    return [name for name, entry in arms.REGISTRY.items() if entry.settings == kind]


def _type_of(sub: dict) -> str:
    """A short phrase for a schema node's type and constraints, e.g. ``integer >= 1``."""
    if "const" in sub:
        return f"`{sub['const']}`"
    if "enum" in sub:
        return "one of " + ", ".join(f"`{v}`" for v in sub["enum"])
    kind = sub.get("type", "any")
    text = " or ".join(kind) if isinstance(kind, list) else kind
    if kind == "array" and "items" in sub:
        items = sub["items"]
        text = ("list of " + (", ".join(f"`{v}`" for v in items["enum"]) if "enum" in items
                              else _type_of(items)))
        if sub.get("minItems"):
            text += f", at least {sub['minItems']}"
        if sub.get("uniqueItems"):
            text += ", no repeats"
    bounds = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=",
              "exclusiveMaximum": "<"}
    text += "".join(f", {op} {sub[k]}" for k, op in bounds.items() if k in sub)
    return text


def _default_of(sub: dict) -> str:
    """A default as YAML would spell it: ``null``, ``true``, ``1e+10``, ``[raw, scaled]``."""
    import json

    def text(value):
        if isinstance(value, str):
            return value
        if isinstance(value, float):
            return f"{value:g}"
        if isinstance(value, list):
            return "[" + ", ".join(map(text, value)) + "]"
        return json.dumps(value)

    return f"`{text(sub['default'])}`" if "default" in sub else ""


def _rows(schema: dict, prefix: str, fallback: dict | None = None) -> list[str]:
    """Table rows of every key under ``schema`` (depth first, schema order); a key
    without a description takes the one of the same key in ``fallback``."""
    rows = []
    required = set(schema.get("required", []))
    for name, sub in schema.get("properties", {}).items():
        key = f"{prefix}.{name}" if prefix else name
        need = "yes" if name in required else ""
        meaning = sub.get("description") or (fallback or {}).get(name, {}).get("description")
        meaning = " ".join(str(meaning or "").split()).replace("|", "\\|")
        rows.append(f"| `{key}` | {_type_of(sub)} | {need} | {_default_of(sub)} | "
                    f"{meaning} |")
        if sub.get("type") == "object" and "properties" in sub:
            rows += _rows(sub, key)
    return rows


_TABLE_HEAD = ["| key | type | required | default | meaning |", "|---|---|---|---|---|"]


def describe_schema(schema: dict | None = None) -> str:
    """``config/README.md``: every key of the config schema with its type, whether it
    is required, its default and its meaning, as Markdown tables (top-level keys, then
    one table per kind of arm). Regenerate with
    ``secondorder config-doc > config/README.md``."""
    schema = schema or load_schema()
    out = ["# Configuration", "",
           "<!-- Generated from src/secondorder/config.schema.yaml by "
           "`secondorder config-doc > config/README.md`; edit the schema, not this file. -->",
           "", " ".join(str(schema.get("description", "")).split()), "",
           "`config.yaml` holds the article's values and the study; `test.yaml` is a tiny "
           "configuration for the tests, used on top of it "
           "(`snakemake --configfile config/config.yaml config/test.yaml`). A value left "
           "out takes its default; a key not listed here, or a value of the wrong type or "
           "out of range, stops the run before any job with a message naming the key.",
           "", "## Keys", "", *_TABLE_HEAD, *_rows(schema, ""), "",
           "## Arms", "",
           "Each entry `arms.<name>` (a name of letters, digits and `_`) is one optimizer "
           "with its settings; `run` and `study.arms` name the arms to train. The keys an "
           "arm takes depend on its `optimizer`:", ""]
    generic = schema.get("properties", {}).get("arms", {}).get("additionalProperties", {})
    for kind, sub in schema.get("$defs", {}).items():
        optimizers = ", ".join(f"`{o}`" for o in _optimizers_of(kind)) or kind
        out += [f"### optimizer {optimizers}", "", *_TABLE_HEAD,
                *_rows(sub, "arms.<name>", generic.get("properties")), ""]
    return "\n".join(out).rstrip("\n") + "\n"
