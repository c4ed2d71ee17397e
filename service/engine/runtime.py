"""Driving the durable_rules C module directly: one engine ruleset per chunk, one fact per evaluation.

Per evaluation, under one constant sid and fact id (a fresh sid per request leaks memory and crashes):
assert the fact, collect every rule that fired, retract the fact; only in the chunks that the fact meets (a
chunk whose rules all require other values of their guard keys is skipped: see compiler.py). One lock per
rule set (all its chunks), because the engine is not safe for concurrent use of one ruleset. Nothing is
created at import time.
"""

from __future__ import annotations

import itertools
import json
import operator
import threading
import weakref
from collections.abc import Callable, Sequence

import durable_rules_engine

from service.domain.errors import NoRuleBundle
from service.engine import oracle
from service.engine.compiler import MAX_KEYS, Chunk, CompiledRuleSet
from service.engine.errors import EngineFailure
from service.engine.sources import Source

_SID = "0"
_FACT_ID = "1"
_FACT_HEAD = f'{{"sid":"{_SID}","id":"{_FACT_ID}"'
_names = itertools.count(1)


def _fact_template(sources: Sequence[Source]) -> str:
    """The engine fact with these keys, a `%d` for each value: `{"sid":"0","id":"1","f0":%d,"f3":%d}`."""
    return _FACT_HEAD + "".join(f',"{src.key}":%d' for src in sources) + "}"


def reference_fired(compiled: CompiledRuleSet, facts: oracle.Facts, lists: oracle.Lists) -> list[int]:
    """The rules the oracle says match, in bundle order: what the engine must agree with."""
    return [r.index for r in compiled.rules if oracle.truth(r.expr, facts, lists)]


class _EngineChunk:
    """One engine ruleset. Not thread-safe by itself: its EngineRuleSet's lock guards every call."""

    def __init__(self, name: str, chunk: Chunk, sources: tuple[Source, ...]) -> None:
        self.name = name
        self._indices = chunk.source_indices
        self._own_template = _fact_template([sources[i] for i in self._indices])
        # The facts that can match a rule here: those with one of these values of a key (None: every fact).
        self._meets: tuple[tuple[int, frozenset[int]], ...] | None = None
        if chunk.guard is not None:
            self._meets = tuple((g.source, g.values) for g in chunk.guard)
        self._rule_index = {rule: int(rule[1:]) for rule in chunk.definition}
        self._handle: int | None = durable_rules_engine.create_ruleset(name, chunk.definition_json())
        # a bundle dropped without close() still releases its engine rulesets when collected
        self._release = weakref.finalize(self, durable_rules_engine.delete_ruleset, self._handle)

    def meets(self, values: Sequence[int | bool]) -> bool:
        """Whether a fact (its values, by key) can match any rule of this chunk."""
        if self._meets is None:
            return True
        for source, members in self._meets:  # noqa: SIM110 - any() over a generator costs twice this loop
            if values[source] in members:
                return True
        return False

    def own_fact(self, values: Sequence[int | bool]) -> str:
        """The fact with this chunk's keys only (for a rule set with too many keys for one fact)."""
        return self._own_template % tuple(values[i] for i in self._indices)

    def fired(self, text: str, into: list[int]) -> None:
        """Append the rules of this chunk that match the fact `text` (JSON with this chunk's keys)."""
        handle = self._handle
        if handle is None:
            raise NoRuleBundle("the rule bundle was closed")
        try:
            state = durable_rules_engine.assert_fact(handle, text)[1]
            message = durable_rules_engine.start_action_for_state(handle, state)
            if message:
                message = message[1]
                rule_index = self._rule_index
                while message:
                    # the rule it is for: the message starts with `{"r12":` (our names never contain quotes);
                    # inline, not a function, because it runs for every rule fired
                    into.append(rule_index[message[2:message.index('"', 2)]])
                    message = durable_rules_engine.complete_and_start_action(handle, state)
        except Exception as err:  # the engine's own error type; the fact passed validation
            raise EngineFailure(self.name, str(err)) from err
        finally:
            try:  # noqa: SIM105 - a context manager per evaluation costs more than the engine call itself
                durable_rules_engine.retract_fact(handle, text)
            except Exception:  # nothing more to do; the next assert reports the stuck fact
                pass

    def held_facts(self) -> int:
        """Facts the engine still holds (always 0 between evaluations; for tests and diagnostics)."""
        if self._handle is None:
            return 0
        try:
            return len(json.loads(durable_rules_engine.get_facts(self._handle, _SID)))
        except Exception:  # the engine reports "no state" before the first evaluation
            return 0

    def close(self) -> None:
        self._handle = None
        self._release()


def _value_reader(sources: Sequence[Source], lists: oracle.Lists) -> Callable[[oracle.Facts], tuple[int | bool, ...]]:
    """The values of the engine fact's keys, in key order, for one normalised fact (see Source.value_encoder)."""
    if len(sources) > 1 and all(src.taken_as_is for src in sources):
        # every key a field as normalised (the scorecard's, eligibility's): all of them in one C call
        return operator.itemgetter(*(src.spec.name for src in sources if src.spec is not None))
    encoders = [src.value_encoder(lists) for src in sources]
    return lambda facts: tuple([encode(facts) for encode in encoders])


class EngineRuleSet:
    """A compiled rule set loaded into the engine (one engine ruleset per chunk). Thread-safe: one lock for
    all its chunks, because the engine is not safe for concurrent use of one ruleset."""

    def __init__(self, compiled: CompiledRuleSet, tag: str, lists: oracle.Lists) -> None:
        self.compiled = compiled
        self._values = _value_reader(compiled.sources, lists)
        self._template = _fact_template(compiled.sources)
        # Every chunk gets the whole fact when it is small enough for any of them; else its own keys only.
        self._whole_fact = len(compiled.sources) <= MAX_KEYS
        self._lock = threading.Lock()
        self._closed = False
        self._chunks: list[_EngineChunk] = []
        try:
            for number, chunk in enumerate(compiled.chunks):
                name = f"{tag}-{compiled.label}-{number}-{next(_names)}"
                self._chunks.append(_EngineChunk(name, chunk, compiled.sources))
        except Exception:
            self.close()
            raise

    def fired(self, facts: oracle.Facts) -> list[int]:
        """Indices of the matching rules, in bundle order, each once."""
        values = self._values(facts)
        hits = list(self.compiled.always)
        with self._lock:
            if self._closed:
                raise NoRuleBundle("the rule bundle was closed")
            text = ""  # the whole fact is written once, for the first chunk it can match (none: not at all)
            for chunk in self._chunks:  # a plain loop: it runs for every evaluation, mostly over one chunk
                if not chunk.meets(values):
                    continue
                if not self._whole_fact:
                    text = chunk.own_fact(values)
                elif not text:
                    text = self._template % values
                chunk.fired(text, hits)
        return hits if len(hits) < 2 else sorted(set(hits))  # most evaluations fire no rule or one

    def held_facts(self) -> int:
        """Facts the engine still holds across all chunks: 0 between evaluations."""
        with self._lock:
            return sum(chunk.held_facts() for chunk in self._chunks)

    def close(self) -> None:
        """Release the engine rulesets. Evaluating afterwards raises NoRuleBundle."""
        with self._lock:
            self._closed = True
            for chunk in self._chunks:
                chunk.close()
