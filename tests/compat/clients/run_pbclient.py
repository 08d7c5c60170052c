"""Run ``pbclient`` calls described as JSON on stdin and print their results as JSON.

Runs inside ``.venv-pybossa`` (pybossa-client 3.0.0), so the tests drive the real client's
public functions against a real LabelHive. Input::

    {"endpoint": "http://...", "api_key": "...",
     "steps": [{"call": "get_projects", "kwargs": {"limit": 5}, "as": "ps"},
               {"set": ["p", "description", "new"]},        # setattr on a stored object
               {"api_key": "another key"},                   # switch callers
               {"call": "update_project", "args": [{"$ref": "p"}]}]}

``"as"`` stores a result (``"first": true`` stores its first item); ``{"$ref": name}`` in the
arguments is replaced by the stored object. Output: one entry per step, ``{"ok": value}`` with
domain objects as ``{"class": ..., "data": ...}``, or ``{"raised": class, "message": ...}``.
"""

import json
import sys

import pbclient


def dump(value):
    if isinstance(value, pbclient.DomainObject):
        return {"class": type(value).__name__, "data": value.data}
    if isinstance(value, list):
        return [dump(item) for item in value]
    return value


def resolve(value, refs):
    if isinstance(value, dict):
        if set(value) == {"$ref"}:
            return refs[value["$ref"]]
        return {key: resolve(item, refs) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve(item, refs) for item in value]
    return value


def run(spec):
    pbclient.set("endpoint", spec["endpoint"])
    pbclient.set("api_key", spec["api_key"])
    refs = {}
    results = []
    for step in spec["steps"]:
        try:
            if "api_key" in step:
                pbclient.set("api_key", step["api_key"])
                result = None
            elif "set" in step:
                name, attr, value = step["set"]
                setattr(refs[name], attr, resolve(value, refs))
                result = None
            else:
                function = getattr(pbclient, step["call"])
                args = resolve(step.get("args", []), refs)
                kwargs = resolve(step.get("kwargs", {}), refs)
                result = function(*args, **kwargs)
                if "as" in step:
                    refs[step["as"]] = result[0] if step.get("first") else result
            results.append({"ok": dump(result)})
        except Exception as exc:  # the client's own exceptions are part of the contract
            results.append({"raised": type(exc).__name__, "message": str(exc)})
    return results


def main():
    spec = json.load(sys.stdin)
    real_stdout = sys.stdout
    sys.stdout = sys.stderr  # pbclient prints warnings (OFFSET_WARNING) to stdout
    try:
        results = run(spec)
    finally:
        sys.stdout = real_stdout
    json.dump(results, real_stdout)


if __name__ == "__main__":
    main()
