"""The sandbox's record on disk: deliveries (jsonl) and a snapshot of mass sends for a restart.

A mixin of :class:`~siyu_cli.sandbox.state.SandboxState`, which holds the corp's data and the lock
(split out of state.py by API area; behaviour unchanged).
"""

from __future__ import annotations

import datetime as dt
import json


class RecordsMixin:
    """Mixin: the sandbox's record on disk: deliveries (jsonl) and a snapshot of mass sends for a restart."""

    def save_messages(self) -> None:
        if not self.state_dir or not self.order:
            return
        path = self.state_dir / "messages.json"
        tmp = path.with_suffix(".json.tmp")
        data = {"order": self.order, "msgs": self.msgs, "removed": sorted(map(list, self.removed)),
                "deleted_by_customer": sorted(map(list, self.deleted_by_customer))}
        tmp.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        tmp.replace(path)

    def _load_messages(self) -> None:
        """Mass sends of an earlier run of this sandbox: msgids stay valid, pending tasks stay pending."""
        path = self.state_dir / "messages.json" if self.state_dir else None
        if path is None or not path.exists():
            return
        data = json.loads(path.read_text(encoding="utf-8"))
        self.order = list(data["order"])
        self.msgs = data["msgs"]
        self.removed |= {tuple(x) for x in data.get("removed", [])}
        self.deleted_by_customer |= {tuple(x) for x in data.get("deleted_by_customer", [])}
        for msgid in self.order:
            msg = self.msgs[msgid]
            if msg["cancelled"]:
                continue
            for userid, task in msg["tasks"].items():
                if task["status"] == 0:
                    self.pending[(msgid, userid)] = task["due"]

    def _load_deliveries(self) -> None:
        if not self.state_dir:
            return
        self.state_dir.mkdir(parents=True, exist_ok=True)
        path = self.state_dir / "deliveries.jsonl"
        if not path.exists():
            return
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                rec = json.loads(line)
                self._deliveries.append(rec)
                if rec["channel"] in ("customer", "group"):
                    self.usage.setdefault(rec["recipient"], []).append(rec.get("ts", 0.0))

    def _deliver(self, channel: str, msgid: str | None, sender: str | None, recipient: str, text: str | None,
                 attachments: list | None, now: float) -> None:
        rec = {"channel": channel, "msgid": msgid, "sender": sender, "recipient": recipient, "text": text,
               "attachments": attachments or [],
               "at": dt.datetime.fromtimestamp(now, self.tz).isoformat(timespec="seconds"), "ts": now}
        self._deliveries.append(rec)
        if self.state_dir:
            if self._log is None:
                self._log = open(self.state_dir / "deliveries.jsonl", "a", encoding="utf-8")
            self._log.write(json.dumps(rec, ensure_ascii=False) + "\n")
            self._log.flush()  # another process (`siyu sandbox deliveries --state-dir`) may read it now

    def deliveries(self, channel: str | None = None) -> list[dict]:
        with self.lock:
            self.tick()
            return [dict(d) for d in self._deliveries if channel is None or d["channel"] == channel]
