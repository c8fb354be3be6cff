"""The audit run store: one SQLite file (``DIR/audit.sqlite``, WAL journal) with one row per dataset item.

Rows are written in one transaction per batch as results arrive, after the batch's files are on disk, so a
run killed at any moment (even with ``kill -9``) keeps every image it finished and loses at most the ones in
flight. Re-running resumes: items whose row says ``done`` or ``skipped`` are not computed again unless their
file changed or left the dataset (:mod:`saliencykit.audit.resume`); ``failed`` ones are retried. The store
remembers the settings it was made with and refuses others, so one store never mixes results of two models or
two threshold choices.

Anything that produces records (the local runner, or a future distributed executor whose workers compute
batches elsewhere) hands them to :meth:`AuditStore.add`; the store is the only writer of the file.

Schema::

    meta(key TEXT PRIMARY KEY, value TEXT)       -- schema version, settings JSON, created/finished times
    images(key TEXT PRIMARY KEY,                 -- path relative to the dataset root
           path TEXT, label TEXT, gt INTEGER, gt_label TEXT, gt_score REAL,
           pred INTEGER, pred_label TEXT, pred_score REAL,
           topk TEXT,                            -- JSON [[class, score], ...], best first
           case_name TEXT, maps TEXT,            -- JSON [{"class", "label", "score", "file"}], files relative to DIR
           raw TEXT,                             -- .npz of the float maps, relative to DIR
           original TEXT,                        -- JPEG copy of the photo for the report when the browser
                                                 -- cannot show the original format (e.g. TIFF), else NULL
           width INTEGER, height INTEGER, sha1 TEXT,
           size INTEGER, mtime_ns INTEGER,       -- the file's size and modification time when it was read:
                                                 -- a resumed run re-hashes only files whose stat changed
           metrics TEXT,                         -- JSON {name: value} from the metrics hook, or NULL
           objects TEXT,                         -- JSON [{"box": [x0, y0, x1, y1], "label", "mask"?}] in pixels
                                                 -- of the original image (annotations), or NULL
           focus TEXT,                           -- JSON focus statistics of the top-1 map (audit.focus)
           suspicious TEXT,                      -- JSON list of reasons the top-1 map's focus is suspicious
           map32 BLOB,                           -- the top-1 map at 32 x 32, float16 (audit.smallmap)
           status TEXT,                          -- done | failed | skipped
           error TEXT, seconds REAL, updated REAL)
    notes(kind TEXT, subject TEXT, message TEXT, PRIMARY KEY (kind, subject))   -- dataset-level problems
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import SaliencyKitError

SCHEMA_VERSION = "2"
#: columns added since schema 1, with their types: older stores get them on open (rows keep NULL there)
_ADDED = {
    "size": "INTEGER",
    "mtime_ns": "INTEGER",
    "objects": "TEXT",
    "focus": "TEXT",
    "suspicious": "TEXT",
    "map32": "BLOB",
}
STORE_NAME = "audit.sqlite"

#: the item and its prediction: the leading columns of the store and of ``results.csv``
ITEM_COLUMNS = ("key", "path", "label", "gt", "gt_label", "gt_score", "pred", "pred_label", "pred_score")
COLUMNS = (
    *ITEM_COLUMNS,
    "topk",
    "case_name",
    "maps",
    "raw",
    "original",
    "width",
    "height",
    "sha1",
    "size",
    "mtime_ns",
    "metrics",
    "objects",
    "focus",
    "suspicious",
    "map32",
    "status",
    "error",
    "seconds",
    "updated",
)
_JSON_COLUMNS = ("topk", "maps", "metrics", "objects", "focus", "suspicious")

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS images (
    key TEXT PRIMARY KEY, path TEXT NOT NULL, label TEXT, gt INTEGER, gt_label TEXT, gt_score REAL,
    pred INTEGER, pred_label TEXT, pred_score REAL, topk TEXT, case_name TEXT, maps TEXT, raw TEXT, original TEXT,
    width INTEGER, height INTEGER, sha1 TEXT, size INTEGER, mtime_ns INTEGER, metrics TEXT,
    objects TEXT, focus TEXT, suspicious TEXT, map32 BLOB,
    status TEXT NOT NULL CHECK (status IN ('done', 'failed', 'skipped')), error TEXT, seconds REAL, updated REAL
);
CREATE INDEX IF NOT EXISTS images_status ON images (status);
CREATE TABLE IF NOT EXISTS notes (kind TEXT, subject TEXT, message TEXT, PRIMARY KEY (kind, subject));
INSERT OR IGNORE INTO meta VALUES ('schema', '{SCHEMA_VERSION}');
"""


class StoreError(SaliencyKitError):
    """The run store cannot be opened or written (disk full, not an audit store, ...)."""


class SettingsMismatch(SaliencyKitError):
    """The output folder holds an audit made with other settings; resuming it would mix results."""


class AuditStore:
    """The SQLite run store of one audit output folder; see the module docstring."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(str(self.path), timeout=30, isolation_level=None, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a killed process loses no commit
            self.db.executescript(_SCHEMA)
            schema = self.get_meta("schema")
            if schema in ("1", SCHEMA_VERSION):
                schema = self._add_columns()
            damage = self.db.execute("PRAGMA quick_check").fetchone()[0]  # reads every page once: cheap
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"{self.path}: cannot open the audit store ({exc}). Is it an audit.sqlite? "
                "Use --fresh to start over or choose another --out."
            ) from None
        except OSError as exc:
            raise StoreError(f"{self.path.parent}: cannot create the output folder ({exc.strerror}).") from None
        if damage != "ok":
            raise _damaged(self.path, next((x for x in damage.splitlines() if not x.startswith("***")), damage))
        if schema != SCHEMA_VERSION:
            raise StoreError(
                f"{self.path}: made by another version of saliencykit (store schema {schema}); "
                "use --fresh to start over or choose another --out."
            )

    def _add_columns(self) -> str:
        """Add the columns an older store lacks (:data:`_ADDED`); old rows keep NULL there (resume re-hashes
        their files; their focus statistics are missing until they are audited again)."""
        have = {row[1] for row in self.db.execute("PRAGMA table_info(images)")}
        if all(column in have for column in _ADDED) and self.get_meta("schema") == SCHEMA_VERSION:
            return SCHEMA_VERSION
        with self._transaction():
            for column, kind in _ADDED.items():
                if column not in have:
                    self.db.execute(f"ALTER TABLE images ADD COLUMN {column} {kind}")
            self.db.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
        return SCHEMA_VERSION

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> AuditStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _write(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        try:
            with self._transaction():
                self.db.executemany(sql, rows)
        except sqlite3.OperationalError as exc:
            raise StoreError(
                f"{self.path}: cannot write the run store ({exc}). Free disk space and re-run the same command: "
                "it resumes where it stopped."
            ) from None
        except sqlite3.DatabaseError as exc:
            raise _damaged(self.path, exc) from None

    def _transaction(self):
        db = self.db

        class _Tx:
            def __enter__(self) -> None:
                db.execute("BEGIN IMMEDIATE")

            def __exit__(self, kind, value, tb) -> None:
                db.execute("COMMIT" if kind is None else "ROLLBACK")

        return _Tx()

    # -- settings -------------------------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, values: Mapping[str, str]) -> None:
        self._write("INSERT OR REPLACE INTO meta VALUES (?, ?)", list(values.items()))

    def check_settings(self, settings: Mapping[str, Any]) -> bool:
        """Record ``settings`` in a new store, or check that an existing store was made with the same.

        Returns whether the store already had results. Raises :class:`SettingsMismatch` listing what differs.
        """
        wanted = json.loads(json.dumps(settings, sort_keys=True, default=str))
        stored = self.get_meta("settings")
        if stored is None:
            self.set_meta({"settings": json.dumps(wanted, sort_keys=True), "created": f"{time.time():.3f}"})
            return False
        previous = json.loads(stored)
        if previous != wanted:
            before, after = _flat(previous), _flat(wanted)
            changes = [
                f"{key}: {_short(before.get(key))} -> {_short(after.get(key))}"
                for key in sorted(set(before) | set(after))
                if before.get(key) != after.get(key)
            ]
            raise SettingsMismatch(
                f"{self.path.parent} holds an audit made with other settings ({'; '.join(changes)}). "
                "Re-run with the same model and settings to resume it, pass --fresh (fresh=True) to delete it "
                "and start over, or choose another --out."
            )
        return self.count() > 0

    def settings(self) -> dict[str, Any]:
        stored = self.get_meta("settings")
        return json.loads(stored) if stored else {}

    # -- rows -----------------------------------------------------------------------------------------------
    def finished(self) -> set[str]:
        """Keys of items that need no more work (done, or skipped because they are not images)."""
        return {k for (k,) in self.db.execute("SELECT key FROM images WHERE status IN ('done', 'skipped')")}

    def remove(self, keys: Iterable[str]) -> None:
        """Delete the rows of ``keys`` (items that left the dataset, or changed and must be audited again)."""
        self._write("DELETE FROM images WHERE key = ?", [(key,) for key in keys])

    def set_stat(self, stats: Iterable[tuple[str, int, int]]) -> None:
        """Record ``(key, size, mtime_ns)`` of files found unchanged by their hash, so the next check is cheap."""
        self._write("UPDATE images SET size = ?, mtime_ns = ? WHERE key = ?", [(s, m, k) for k, s, m in stats])

    def add(self, records: Iterable[Mapping[str, Any]]) -> int:
        """Insert or replace records (dicts with keys from :data:`COLUMNS`) in one transaction."""
        now = time.time()
        rows = []
        for record in records:
            row = []
            for column in COLUMNS:
                value = record.get(column)
                if column == "updated":
                    value = now
                elif column in _JSON_COLUMNS and value is not None:
                    value = json.dumps(value)
                elif column == "path" and value is not None:
                    value = str(value)
                row.append(value)
            rows.append(row)
        if rows:
            placeholders = ", ".join("?" for _ in COLUMNS)
            self._write(f"INSERT OR REPLACE INTO images ({', '.join(COLUMNS)}) VALUES ({placeholders})", rows)
        return len(rows)

    def set_notes(self, notes: Iterable[tuple[str, str, str]]) -> None:
        """Replace the dataset-level notes (they describe the dataset as read by the latest run)."""
        notes = list(notes)
        try:
            with self._transaction():
                self.db.execute("DELETE FROM notes")
                self.db.executemany("INSERT OR REPLACE INTO notes VALUES (?, ?, ?)", notes)
        except sqlite3.OperationalError as exc:
            raise StoreError(f"{self.path}: cannot write the run store ({exc}).") from None

    def notes(self) -> list[tuple[str, str, str]]:
        return [tuple(r) for r in self.db.execute("SELECT kind, subject, message FROM notes ORDER BY kind, subject")]

    def count(self, status: str | None = None) -> int:
        if status is None:
            return self.db.execute("SELECT COUNT(*) FROM images").fetchone()[0]
        return self.db.execute("SELECT COUNT(*) FROM images WHERE status = ?", (status,)).fetchone()[0]

    def rows(self, status: str | None = None) -> Iterator[dict[str, Any]]:
        """Every row as a dict (JSON columns decoded), ordered by key; streamed, not loaded at once."""
        sql = f"SELECT {', '.join(COLUMNS)} FROM images"
        args: tuple = ()
        if status is not None:
            sql += " WHERE status = ?"
            args = (status,)
        cursor = self.db.cursor()
        try:
            for values in cursor.execute(sql + " ORDER BY key", args):
                row = dict(zip(COLUMNS, values))
                for column in _JSON_COLUMNS:
                    if row[column] is not None:
                        row[column] = json.loads(row[column])
                yield row
        except (sqlite3.DatabaseError, json.JSONDecodeError) as exc:
            raise _damaged(self.path, exc) from None

    def focus_rows(self) -> Iterator[dict[str, Any]]:
        """``key, pred, pred_label, gt, focus, map32`` of every audited image, ordered by key (for the class maps)."""
        cursor = self.db.cursor()
        try:
            sql = "SELECT key, pred, pred_label, gt, focus, map32 FROM images WHERE status = 'done' ORDER BY key"
            for key, pred, pred_label, gt, focus, map32 in cursor.execute(sql):
                yield {
                    "key": key,
                    "pred": pred,
                    "pred_label": pred_label,
                    "gt": gt,
                    "focus": json.loads(focus) if focus is not None else None,
                    "map32": map32,
                }
        except (sqlite3.DatabaseError, json.JSONDecodeError) as exc:
            raise _damaged(self.path, exc) from None

    def set_focus(self, updates: Iterable[tuple[str, Mapping[str, Any], Sequence[str]]]) -> None:
        """Record ``(key, focus, suspicious)`` of images whose focus changed at export (their shared peaks)."""
        self._write(
            "UPDATE images SET focus = ?, suspicious = ? WHERE key = ?",
            [(json.dumps(focus), json.dumps(list(reasons)), key) for key, focus, reasons in updates],
        )


def _damaged(path: Path, exc: Exception | str) -> StoreError:
    return StoreError(f"{path}: the audit store is damaged ({exc}). Use --fresh to start over or choose another --out.")


def _flat(settings: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in settings.items():
        if isinstance(value, Mapping):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _short(value: Any, limit: int = 80) -> str:
    text = json.dumps(value, sort_keys=True) if not isinstance(value, str) else value
    return text if len(text) <= limit else text[: limit - 3] + "..."
