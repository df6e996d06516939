"""The template files as pydantic models: every key documented in mappings/README.md, unknown keys rejected.

Four kinds of file, one per folder of ``mappings/``:

* ``message/<STRUCTURE>.yaml`` → :class:`MessageTemplate` (which resources a message structure produces),
* ``resource/<Name>.yaml`` → :class:`ResourceTemplate` (segment fields → one FHIR resource),
* ``datatype/<Name>.yaml`` → :class:`DatatypeTemplate` (a v2 data type → a FHIR data type),
* ``terminology/<name>.yaml`` → :class:`TerminologyTable` (codes → codes).

The models only check shape; :mod:`hub.mapping.compiler` checks meaning (paths against the FHIR R4
schema, names of templates and tables, source paths) and reports both with file and line.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator
from pydantic_core.core_schema import ValidatorFunctionWrapHandler

SEGMENT_RE = re.compile(r"^[A-Z][A-Z0-9]{2}$")
FIELD_RE = re.compile(r"^[A-Z][A-Z0-9]{2}-[1-9][0-9]*$")


def check_not_carried(fields: dict[str, str]) -> None:
    """``not_carried``: fields (``OBR-17``) → why they are not carried over.

    Raises:
        ValueError: a key that is no segment field, or an empty reason.
    """
    bad = [name for name in fields if not FIELD_RE.match(name) and not SEGMENT_RE.match(name)]
    if bad:
        raise ValueError(f"'not_carried' names segment fields such as OBR-17 (no component) or segments, not {bad}")
    empty = [name for name, reason in fields.items() if not reason or not reason.strip()]
    if empty:
        raise ValueError(f"'not_carried' gives the reason each field is not carried over; none for {empty}")


class TemplateModel(BaseModel):
    """Base: unknown keys are errors; the YAML line of each object is kept for later errors."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    _line: int = PrivateAttr(default=0)

    @model_validator(mode="wrap")
    @classmethod
    def _keep_line(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        model = handler(data)
        line = getattr(data, "line", 0)
        if line and isinstance(model, TemplateModel):
            model._line = line
        return model

    @property
    def line(self) -> int:
        return self._line


_CONDITION_OPERATORS = (
    "present",
    "repeats",
    "in_",
    "not_in",
    "equals",
    "matches",
    "valid",
    "in_table",
    "among",
)
_CONDITION_COMBINATORS = ("event", "all_", "any_", "not_")


class Among(TemplateModel):
    """``among:`` of a condition: the texts of ``from`` (read with ``scope``) in the segments that pass ``where``
    (read at each such segment), which an item's text is compared with: a person a withdrawn line names."""

    from_: str = Field(alias="from")
    scope: Literal["up", "group", "own", "inner", "below", "around"] = "up"
    where: Condition | None = None
    # a text built-in (XCN_text) that makes the text compared, of the item and of each ``from`` value alike: a
    # person named without an identifier is compared by name
    type: str | None = None


class Condition(TemplateModel):
    """A test on the message, compiled to a predicate (see mappings/README.md, "Conditions").

    Exactly one operator: ``present``, ``repeats``, ``in``, ``not_in``, ``equals``, ``matches``, ``valid``,
    ``in_table``, ``among`` (each with ``from``), or ``event``, ``all``, ``any``, ``not``.
    """

    from_: str | None = Field(default=None, alias="from")
    scope: Literal["up", "group", "own", "inner", "below", "around", "beside", "siblings", "others"] = "up"
    present: bool | None = None
    repeats: bool | None = None
    in_: list[str] | None = Field(default=None, alias="in")
    not_in: list[str] | None = None
    equals: str | None = None
    matches: str | None = None
    valid: str | None = None
    in_table: str | None = None
    among: Among | None = None
    event: list[str] | None = None
    all_: list[Condition] | None = Field(default=None, alias="all")
    any_: list[Condition] | None = Field(default=None, alias="any")
    not_: Condition | None = Field(default=None, alias="not")

    @model_validator(mode="after")
    def _one_operator(self) -> Condition:
        given = [name for name in (*_CONDITION_OPERATORS, *_CONDITION_COMBINATORS) if getattr(self, name) is not None]
        if len(given) != 1:
            names = ", ".join(n.rstrip("_") for n in given) or "none"
            raise ValueError(f"a condition needs exactly one operator, found: {names}")
        needs_from = given[0] in _CONDITION_OPERATORS
        if needs_from and not self.from_:
            raise ValueError(f"condition '{given[0].rstrip('_')}' needs 'from'")
        if not needs_from and self.from_:
            raise ValueError(f"condition '{given[0].rstrip('_')}' takes no 'from'")
        if self.matches is not None:
            try:
                re.compile(self.matches)
            except re.error as exc:
                raise ValueError(f"'matches' is not a valid regular expression: {exc}") from None
        return self


class KeyRef(TemplateModel):
    """``key:`` of a rule: a Reference to the resource of type ``resource`` whose id key would be ``parts``
    (the id that resource gets, made here from this segment's fields: a parent result another order names)."""

    resource: str
    parts: list[ValueSpec]
    # true: only a resource this message makes, found by any of its key alternatives, an ``optional`` part left
    # empty here or there matching any value; none or several: nothing, and an ``unresolved-reference`` in the
    # report
    in_message: bool = False
    # with in_message: when this message makes no resource of that type whose key has the same first part (an
    # isolate of that report), the resource an earlier message made (the id the parts give, as without in_message)
    or_earlier: bool = False
    # with in_message: the segment the unresolved-reference names (and is reported once for), when it is not that of
    # the first field the key reads (the OBR of results that name an isolate of their own order: once per order)
    report_at: str | None = Field(default=None, pattern=r"^[A-Z][A-Z0-9]{2}$")

    @model_validator(mode="after")
    def _earlier_needs_in_message(self) -> KeyRef:
        if self.or_earlier and not self.in_message:
            raise ValueError("'or_earlier' needs 'in_message: true'")
        return self


class ValueSpec(TemplateModel):
    """One element rule (with ``path``), key part, argument or datatype rule (without).

    Sources (at most one): ``from``, ``value``, ``format``, ``ref``, ``refs``, ``key``; with none, the rule
    works on the current value (inside a datatype template or an ``elements`` block).
    """

    path: str | None = None
    from_: str | None = Field(default=None, alias="from")
    value: Any = None
    format: str | None = None
    ref: str | None = None
    refs: str | None = None
    key: KeyRef | None = None
    scope: Literal["up", "group", "own", "inner", "below", "around", "sub_id", "beside", "beside_below", "parent"] = (
        "up"
    )
    repeat: Literal["first", "all"] | None = None
    where: Condition | None = None
    prefer: Condition | None = None
    type: str | None = None
    table: str | None = None
    args: dict[str, ValueSpec] | None = None
    elements: list[ValueSpec] | None = None
    require: list[str] = Field(default_factory=list)
    join: str | None = None
    when: Condition | None = None
    required: bool = False
    # true: a value already in the list is not added again; leaves: an item with the same first values at them is
    # merged with the one already there (hub.mapping.merging)
    unique: bool | list[str] = False
    optional: bool = False
    defaults: dict[str, Any] | None = None
    # the items this rule builds are withdrawn (ROL-2 DE): the stored items with their values at these leaves go
    withdraw: list[str] | None = None
    # with 'withdraw': for a stored list with no item of the withdraw leaves' values, the stored items without a value
    # at those leaves that have the item's values at these go instead (a DE line's role instance id, else its role
    # and person stored without an id)
    otherwise: list[str] | None = None
    # the items this rule builds are kept as stored (ROL-2 UC): the stored items with their values at these leaves
    # stay, and win over the message's items with those values
    keep_stored: list[str] | None = None
    # the items this rule builds name a group of the list (ROL-2 AD, UC: a role) whose stored items stay beside the
    # message's: the stored items with their values at these leaves are kept, unless a field of that group is given
    keep_beside: list[str] | None = None
    # true, on a list rule with a discriminator: the list is a history (a visit's completed locations), so the stored
    # items of the discriminator stay beside the message's also when the rule's field is given (a second transfer's
    # prior location adds to the earlier ones); "" in the field still deletes them
    keep_history: bool = False
    # true: the value this rule gives (the earlier rules for the element giving none) is for a resource the hub has
    # not stored; a stored value of the element stays (Encounter.status guessed from the patient class)
    stored_wins: bool = False
    comment: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> ValueSpec:
        sources = [n for n in ("from_", "format", "ref", "refs", "key") if getattr(self, n) is not None]
        if "value" in self.model_fields_set:
            sources.append("value")
        if len(sources) > 1:
            raise ValueError("a rule takes one source: " + ", ".join(s.rstrip("_") for s in sources))
        if (self.ref or self.refs or self.key or "value" in self.model_fields_set) and (
            self.type or self.table or self.elements
        ):
            raise ValueError("'value', 'ref', 'refs' and 'key' take no 'type', 'table' or 'elements'")
        if self.elements is not None and self.type:
            raise ValueError("'elements' builds the value itself; it takes no 'type'")
        if self.require and self.elements is None:
            raise ValueError("'require' is for rules with 'elements'")
        if self.otherwise is not None and (self.withdraw is None or not self.otherwise):
            raise ValueError("'otherwise' names the leaves of a 'withdraw' rule's fallback: with 'withdraw' only")
        if sum(k is not None for k in (self.withdraw, self.keep_stored, self.keep_beside)) > 1:
            raise ValueError(
                "a rule either withdraws its items or keeps them as stored or keeps their group beside, not two"
            )
        if self.defaults is not None and (self.ref or self.refs or "value" in self.model_fields_set or self.format):
            raise ValueError("'defaults' complete a converted value; a constant, 'format' or 'ref' takes none")
        return self


class ResourceTemplate(TemplateModel):
    """``resource/<Name>.yaml``: the fields of one segment (and segments near it) → one FHIR resource."""

    resource: str
    description: str | None = None
    segment: str
    id: list[list[ValueSpec]]
    # key parts (as in 'id', each optional) that tell apart two segments of one key: a 'shared' rule's later
    # segment whose value of a part differs from the resource's (both valued) is another entity (a person's
    # birth date and sex: two children of one name and relationship); the n-th part of every template of the
    # resource type is the same trait
    distinct: list[ValueSpec] = Field(default_factory=list)
    elements: list[ValueSpec]
    # fields no rule reads on purpose → why (the conversion report leaves them out of unmapped-field)
    not_carried: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _source(self) -> ResourceTemplate:
        if not SEGMENT_RE.match(self.segment):
            raise ValueError(f"'segment' must be a segment id such as PID, not {self.segment!r}")
        check_not_carried(self.not_carried)
        if not self.id or any(not alternative for alternative in self.id):
            raise ValueError("'id' lists one or more keys, each a non-empty list of parts")
        return self


class SnapshotSpec(TemplateModel):
    """A resource rule's ``snapshot``: the segments it reads are a set sent whole (HL7 v2 ch. 2, snapshot mode):
    the stored resources of the set that the message does not send are deleted (:mod:`hub.mapping.snapshots`)."""

    scope: str  # the resource rule the set belongs to (encounter: a visit's diagnoses; patient: allergies)
    param: str  # the search parameter of the set's resources that names the scope resource (encounter, patient)
    where: dict[str, str] = Field(default_factory=dict)  # more search parameters every member matches
    listed_in: str | None = None  # the scope resource's element that lists the members (Encounter.diagnosis)
    unless: Condition | None = None  # on a segment of the set: the set is in action code mode, no snapshot

    @model_validator(mode="after")
    def _names(self) -> SnapshotSpec:
        for name in (self.param, *self.where):
            if not re.match(r"^[a-z_][a-z0-9-]*$", name):
                raise ValueError(f"snapshot: {name!r} is not a search parameter name")
        return self


class ResourceRule(TemplateModel):
    """One entry of a message template's ``resources``."""

    name: str
    template: str
    for_: str = Field(alias="for")
    when: Condition | None = None
    required: bool = False
    delete: bool = False  # the Bundle entry is DELETE <Type>/<id> (A29 delete person, PPR^PC3 …)
    # segments of this rule with the same key make one resource (the first's), which each of them names (the
    # insurer of two policies); without it the later ones are numbered, as two results of one test are
    shared: bool = False
    # with 'shared': top-level elements each later segment of the same key adds to: a list gets the items the
    # resource does not have yet (the orders of a study two orders share: basedOn), or, written {element: [leaf
    # paths]}, each item merged with the item of the same leaves' values as `unique` merges (a phone two segments
    # give); a single-valued element the resource lacks is filled (a birth date the first segment leaves out)
    gather: list[str | dict[str, list[str]]] = Field(default_factory=list)
    snapshot: SnapshotSpec | None = None  # the rule's resources are a set sent whole (snapshot mode)
    # the resources of the segments that meet it are written only when the hub has never stored one of that id
    # (PRB-1 UC: a problem sent unchanged, for context, is added by a hub that does not have it; a stored one stays)
    if_absent: Condition | None = None
    # the segments that meet it make a visit whose patient has moved (an A02 without PV1-6): the stored active
    # locations the message does not list are kept, completed (hub.mapping.moved)
    moved: Condition | None = None
    elements: list[ValueSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _name(self) -> ResourceRule:
        if not re.match(r"^[a-z][A-Za-z0-9_]*$", self.name):
            raise ValueError(f"resource names are lower camel case identifiers, not {self.name!r}")
        if self.delete and self.if_absent is not None:
            raise ValueError("'if_absent' is for rules that write resources, not 'delete' rules")
        if self.delete and self.moved is not None:
            raise ValueError("'moved' is for rules that write resources, not 'delete' rules")
        if self.gather and not self.shared:
            raise ValueError("'gather' is for 'shared' rules: the elements later segments of the same key add to")
        return self


class UnmappedRule(TemplateModel):
    """One entry of a message template's ``unmapped``: segments that, in some messages, no resource carries; such a
    segment is reported (``unmapped-segment``) rather than dropped without a word."""

    for_: str = Field(alias="for")
    # the group, around the segment (its own included), in which one of the resources ``carried_by`` names carries it
    within: str
    carried_by: list[str]
    when: Condition | None = None
    detail: str


class MessageTemplate(TemplateModel):
    """``message/<STRUCTURE>.yaml``: the segment grammar of a structure and the resources it produces."""

    message: str
    description: str | None = None
    events: list[str] | None = None
    # trigger events of the structure refused on purpose → the reason the refusal gives (SIU S25: a query)
    refused: dict[str, str] = Field(default_factory=dict)
    # segment ids of which a message must have at least one (an ORU with neither OBR nor OBX has no result)
    requires: list[str] = Field(default_factory=list)
    structure: list[Any]
    resources: list[ResourceRule]
    unmapped: list[UnmappedRule] = Field(default_factory=list)
    # fields no rule reads on purpose → why (the conversion report leaves them out of unmapped-field)
    not_carried: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _requires(self) -> MessageTemplate:
        bad = [s for s in self.requires if not SEGMENT_RE.match(s)]
        if bad:
            raise ValueError(f"'requires' lists segment ids such as OBR, not {bad}")
        check_not_carried(self.not_carried)
        return self

    @model_validator(mode="after")
    def _refused(self) -> MessageTemplate:
        mapped = {e.upper() for e in self.events or ()}
        both = sorted(e for e in self.refused if e.upper() in mapped or self.events is None)
        if both:
            raise ValueError(f"'refused' names events the template maps (list 'events' without them): {both}")
        return self


class DatatypeTemplate(TemplateModel):
    """``datatype/<Name>.yaml``: a v2 data type → a FHIR data type, by ``elements`` or by ``rules``."""

    datatype: str
    fhir: str
    description: str | None = None
    elements: list[ValueSpec] | None = None
    rules: list[ValueSpec] | None = None
    require: list[str] = Field(default_factory=list)
    finish: str | None = None

    @model_validator(mode="after")
    def _body(self) -> DatatypeTemplate:
        if (self.elements is None) == (self.rules is None):
            raise ValueError("a datatype template has either 'elements' (a complex FHIR type) or 'rules' (a primitive)")
        for rule in self.rules or []:
            if rule.path is not None:
                raise ValueError("'rules' produce the value itself; they take no 'path'")
        return self


class TableEntry(TemplateModel):
    code: str
    display: str | None = None
    system: str | None = None
    alias: bool = False  # a spelling seen in the wild, not a code of the table's source system


class TablePattern(TemplateModel):
    match: str
    code: str
    display: str | None = None
    system: str | None = None

    @model_validator(mode="after")
    def _regex(self) -> TablePattern:
        try:
            re.compile(self.match)
        except re.error as exc:
            raise ValueError(f"'match' is not a valid regular expression: {exc}") from None
        return self


class TerminologyTable(TemplateModel):
    """``terminology/<name>.yaml``: source codes → target codes, the source kept beside the translation."""

    table: str
    description: str | None = None
    source_system: str | None = None
    target_system: str | None = None
    ignore_case: bool = False
    unmapped: Literal["keep", "default", "omit"] = "keep"
    default: str | None = None
    codes: dict[str, str | TableEntry] = Field(default_factory=dict)
    patterns: list[TablePattern] = Field(default_factory=list)
    local_codes: bool = False
    # true: a code the table does not have is reported (untranslated-code: the table and where, never the code);
    # for tables read once per element (sex, marital status, patient class …), not for those tried in turn
    report_unknown: bool = False
    # other tables whose codes this one translates too, after its own (local-lab-tests includes the microbiology
    # tables, so a sender's antibiotic code listed once translates where every lab code does)
    include: list[str] = Field(default_factory=list)
    # a coding system (LN): an in_table condition on a whole coded field finds the field's alternate identifier
    # (component 4) too when its alternate coding system (component 6) is this one (LOINC beside a LIS's own code)
    alternate_system: str | None = None

    @model_validator(mode="after")
    def _default(self) -> TerminologyTable:
        if self.unmapped == "default" and self.default is None:
            raise ValueError("unmapped: default needs a 'default' code")
        if self.ignore_case:
            seen: dict[str, str] = {}
            for source, entry in self.codes.items():
                target = entry if isinstance(entry, str) else entry.code
                other = seen.setdefault(source.upper(), target)
                if other != target:
                    raise ValueError(f"with ignore_case, {source!r} collides with another code mapped to {other!r}")
        return self


class TablePatch(TemplateModel):
    """An overlay's change to a terminology table: ``codes`` added (or replaced), ``patterns`` tried first, and
    any other key replacing the library's value. For a table the library does not have, the patch is the table."""

    description: str | None = None
    source_system: str | None = None
    target_system: str | None = None
    ignore_case: bool | None = None
    unmapped: Literal["keep", "default", "omit"] | None = None
    default: str | None = None
    codes: dict[str, str | TableEntry] = Field(default_factory=dict)
    patterns: list[TablePattern] = Field(default_factory=list)
    local_codes: bool | None = None
    report_unknown: bool | None = None
    alternate_system: str | None = None


class NotCarriedList(TemplateModel):
    """``not_carried.yaml`` at the top of the mappings directory: fields no message carries over, on purpose, in
    every message structure (set ids, the message header's delimiters and routing, fields that only steer the
    conversion); the conversion report leaves them out of ``unmapped-field``."""

    description: str | None = None
    not_carried: dict[str, str]

    @model_validator(mode="after")
    def _fields(self) -> NotCarriedList:
        check_not_carried(self.not_carried)
        return self


class ResourcePatch(TemplateModel):
    """An overlay's element rules for a resource template, run before the template's own (so they win)."""

    elements: list[ValueSpec]


class MessagePatch(TemplateModel):
    """An overlay's change to a message template: resource rules appended, element rules per resource rule."""

    resources: list[ResourceRule] = Field(default_factory=list)
    elements: dict[str, list[ValueSpec]] = Field(default_factory=dict)


class SenderMatch(TemplateModel):
    """Which messages an overlay is for: MSH-3 (sending application) and/or MSH-4 (sending facility), each
    compared with the field's first component (the namespace id) or the whole field, ignoring case."""

    application: str | None = None
    facility: str | None = None

    @model_validator(mode="after")
    def _some(self) -> SenderMatch:
        if not self.application and not self.facility:
            raise ValueError("a sender needs 'application' (MSH-3), 'facility' (MSH-4) or both")
        return self


class OverlayTemplate(TemplateModel):
    """``overlays/<name>.yaml``: one hospital's variant of the library, merged over it at load."""

    overlay: str
    description: str | None = None
    senders: list[SenderMatch] = Field(min_length=1)
    tables: dict[str, TablePatch] = Field(default_factory=dict)
    datatypes: dict[str, DatatypeTemplate] = Field(default_factory=dict)
    resources: dict[str, ResourcePatch] = Field(default_factory=dict)
    messages: dict[str, MessagePatch] = Field(default_factory=dict)
    # fields this sender's messages carry that the hub leaves out on purpose → why (not reported: unmapped-field)
    not_carried: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _names(self) -> OverlayTemplate:
        check_not_carried(self.not_carried)
        for key, datatype in self.datatypes.items():
            if datatype.datatype != key:
                raise ValueError(f"datatypes.{key}: the template is named {datatype.datatype!r}, not {key!r}")
        return self
