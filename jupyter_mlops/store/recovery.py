"""Opening a store: recover exactly, or refuse with one message. Never guess.

:func:`prepare` runs once per open under the exclusive lock (when the store can be written): it
creates a new store (``store.json`` and ``FORMAT`` from the start), migrates a schema-1 store to
schema 2, and removes what dead writers left. :func:`load` reads the snapshot and checks that
no journal is newer than it; :func:`replay` applies journal lines and stops at the first complete
line that does not decode. Every refusal is a :class:`~jupyter_mlops.errors.StoreDamaged` that
names the damaged file, says what is intact and gives the commands that check and repair it.
"""

from __future__ import annotations

from jupyter_mlops.errors import StoreDamaged, StoreError
from jupyter_mlops.store import journal
from jupyter_mlops.store.files import repair_advice
from jupyter_mlops.store.state import SCHEMA, STREAMS, SnapshotError, State
from jupyter_mlops.store.storage import BaseStorage


def prepare(storage: BaseStorage) -> None:
    """Make the store ready for writing (the caller holds the exclusive lock)."""
    schema = storage.read_format()
    refuse_newer(storage, schema)
    if schema is None:
        if not _new(storage):
            raise damaged(storage, "FORMAT", "it is missing", "store.json and the journal")
        storage.write_snapshot(State().snapshot(), 0)  # first: FORMAT says the store exists
        storage.write_format(SCHEMA)
    elif schema < SCHEMA:
        migrate(storage)
    storage.cleanup()


def _new(storage: BaseStorage) -> bool:
    """No store here yet, or only the empty snapshot of a creation that was interrupted."""
    try:
        data = storage.read_snapshot()
    except SnapshotError:
        return False
    empty = data is None or data == State().snapshot()
    return empty and not any(storage.journal_size(g) for g in storage.journals())


def refuse_newer(storage: BaseStorage, schema: int | None) -> None:
    """Refuse a store written by a newer jupyter_mlops, with upgrade advice."""
    if schema is not None and schema > SCHEMA:
        raise StoreError(
            f"The store at {storage.root} was written by a newer jupyter_mlops (store schema "
            f"{schema}; this version reads schema {SCHEMA} and older). Upgrade with "
            "`pip install -U jupyter-mlops`, or point JUPYTER_MLOPS_STORE at another folder."
        )


def load(storage: BaseStorage) -> State:
    """The state in the snapshot, after checking that no journal is newer than it."""
    schema = storage.read_format()
    refuse_newer(storage, schema)
    try:
        data = storage.read_snapshot()
        state = State.from_snapshot(data) if data is not None else State(0, schema or SCHEMA)
    except SnapshotError as e:
        raise damaged(storage, "store.json", str(e), _journals_text(storage)) from None
    if data is None and (schema or 0) >= SCHEMA:
        raise damaged(storage, "store.json", "it is missing", _journals_text(storage))
    if state.schema < SCHEMA and (schema or 0) >= SCHEMA:
        raise damaged(
            storage,
            "store.json",
            "it is in the schema-1 layout although the store was upgraded: a process of an "
            "older jupyter_mlops wrote it (stop such processes before repairing)",
            _journals_text(storage),
        )
    newer = [g for g in storage.journals() if g > state.generation]
    if newer:
        name = f"journal-{newer[0]}.jsonl"
        what = "missing" if data is None else f"of generation {state.generation}"
        raise damaged(
            storage,
            name,
            f"it continues a snapshot of generation {newer[0]}, but store.json is {what}: the "
            "snapshot was lost or replaced by an older copy, and opening the store would hide "
            "everything recorded before that journal",
            f"{name} and every metric log and artifact file",
        )
    return state


def replay(
    state: State, storage: BaseStorage, data: bytes, offset: int
) -> tuple[int, StoreDamaged | None]:
    """Apply the complete lines ``data`` read from ``offset``; the new offset and any damage.

    The lines before a damaged one are applied, the damaged one and all after it are not.
    """
    lines = data.split(b"\n")
    lines.pop()  # data ends with a newline
    txns = journal.decode_many(lines) if state.schema >= SCHEMA else None
    decode = journal.decoder(state.schema)
    for number, line in enumerate(lines):
        try:
            ops = state.check(txns[number] if txns is not None else decode(line))
        except journal.TornLine:
            offset += len(line) + 1
            continue
        except journal.LineError as e:
            return offset, _journal_damage(state, storage, e, offset, len(lines) - number - 1)
        state.apply(ops)
        offset += len(line) + 1
    return offset, None


def _journal_damage(
    state: State, storage: BaseStorage, error: Exception, offset: int, after: int
) -> StoreDamaged:
    name = f"journal-{state.generation}.jsonl"
    runs = len(state.tables.get("runs", {}))
    return damaged(
        storage,
        name,
        f"the line at byte {offset} cannot be read: {error}",
        f"store.json and every line before byte {offset} ({runs} runs so far); the {after} "
        "complete lines after it were not read",
    )


def shorter(storage: BaseStorage, generation: int, size: int, offset: int) -> StoreDamaged:
    """The journal became shorter than what this process had already read."""
    return damaged(
        storage,
        f"journal-{generation}.jsonl",
        f"it holds {size} bytes, but this process had already read {offset}: it was cut short "
        "or replaced outside jupyter_mlops",
        "what this process read before (kept in memory; nothing new is written)",
    )


def damaged(storage: BaseStorage, name: str, problem: str, intact: str) -> StoreDamaged:
    """The one message for a damaged store file."""
    return StoreDamaged(
        f"The store file {storage.describe(name)} is damaged: {problem}. Intact: {intact}. "
        f"{repair_advice(storage.root)}"
    )


def _journals_text(storage: BaseStorage) -> str:
    names = [f"journal-{g}.jsonl" for g in storage.journals()]
    files = ", ".join(names) if names else "no journal"
    return f"{files}, and every metric log and artifact file"


# -- schema 1 -> 2 ----------------------------------------------------------------------------
def migrate(storage: BaseStorage) -> None:
    """Rewrite a schema-1 store as schema 2 (the caller holds the exclusive lock).

    The old state is read strictly (a damaged line refuses, as on any open); the new snapshot
    gets TinyDB document ids and the committed length of every stream file found. A crash
    between the new snapshot and the new ``FORMAT`` is finished by the next open.
    """
    state = load_all(storage)
    if state.schema < SCHEMA:
        register_streams(state, storage)
        state.generation += 1
        storage.write_snapshot(state.snapshot(), state.generation)
    storage.write_format(SCHEMA)


def load_all(storage: BaseStorage) -> State:
    """The whole current state (snapshot and journal), refusing on damage."""
    state = load(storage)
    data, _ = storage.read_journal(state.generation, 0)
    _, error = replay(state, storage, data, 0)
    if error is not None:
        raise error
    return state


def register_streams(state: State, storage: BaseStorage) -> None:
    """Record every stream file's complete lines as committed (schema 1 kept no lengths)."""
    for name in storage.list_streams():
        doc = {"length": complete_length(storage, name)}
        state.apply([["put", STREAMS, name, doc]])


def complete_length(storage: BaseStorage, name: str) -> int:
    """Bytes of a stream file up to its last newline (reads only its tail)."""
    size = storage.stream_size(name)
    start = max(0, size - (1 << 16))
    while True:
        end = storage.read_stream(name, start, size).rfind(b"\n")
        if end >= 0:
            return start + end + 1
        if start == 0:
            return 0
        start = max(0, start - (1 << 20))
