# praxis_json: the stdout callback praxis gives ansible-playbook. It prints nothing while the
# play runs and, at the end, one line of JSON: per-host totals and one entry per task result
# (status, changed, a bounded diff, a bounded message). Written by praxis into its state
# directory; not an operator-editable file.
import json

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
    name: praxis_json
    type: stdout
    short_description: one JSON line for praxis
    description: per-host totals and per-task results, printed once at the end.
"""

LIMIT = 8192


def _cut(value):
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    if len(text) > LIMIT:
        return text[:LIMIT] + " [... %d characters left out ...]" % (len(text) - LIMIT)
    return text


def _diffs(result):
    diff = result.get("diff")
    if not diff:
        return []
    entries = diff if isinstance(diff, list) else [diff]
    out = []
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        item = {}
        for key in ("before_header", "after_header", "before", "after", "prepared"):
            if key in entry:
                item[key] = _cut(entry[key])
        if item:
            out.append(item)
    return out


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
    CALLBACK_NAME = "praxis_json"

    def __init__(self):
        super().__init__()
        self.results = []

    def _record(self, result, status):
        data = result._result
        entry = {
            "host": result._host.get_name(),
            "task": result._task.get_name(),
            "action": result._task.action,
            "status": status,
            "changed": bool(data.get("changed", False)),
        }
        diffs = _diffs(data)
        if diffs:
            entry["diff"] = diffs
        if status in ("failed", "unreachable", "ignored") or data.get("skip_reason"):
            entry["msg"] = _cut(str(data.get("msg") or data.get("skip_reason") or ""))
        self.results.append(entry)

    def v2_runner_on_ok(self, result):
        self._record(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, "ignored" if ignore_errors else "failed")

    def v2_runner_on_unreachable(self, result):
        self._record(result, "unreachable")

    def v2_runner_on_skipped(self, result):
        self._record(result, "skipped")

    def v2_playbook_on_stats(self, stats):
        hosts = {}
        for host in sorted(stats.processed.keys()):
            hosts[host] = stats.summarize(host)
        self._display.display(
            json.dumps({"praxis_ansible": 1, "hosts": hosts, "tasks": self.results})
        )
