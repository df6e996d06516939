"""Message structures (the abstract message syntax of HL7 v2, chapter 2.12) and the grouping of segments.

A message template declares its structure as data, in the standard's notation made YAML::

    structure:
      - MSH
      - SFT*                       # optional, repeating  (HL7: [{SFT}])
      - PATIENT_RESULT+:           # a group, required, repeating  (HL7: {PATIENT_RESULT})
          - PATIENT?:
              - PID
              - NTE*
          - ORDER_OBSERVATION+:
              - ORC?
              - OBR
              - OBSERVATION*: [OBX, NTE*]

Suffixes: none = required once, ``?`` optional, ``*`` optional repeating, ``+`` required repeating.

:func:`group_segments` assigns the segments of a received message to group instances in one pass. Real
senders put segments out of order, add segments the structure does not name, and leave required ones out,
so the pass is tolerant: a segment goes to the innermost open group that accepts it in order (opening a
new group instance where a group's first segment appears); failing that, to the innermost group that names
it at all; a Z-segment the structure does not name joins the group instance that is open (it extends the
segment before it); anything else is left out of the tree (templates never see it). A required segment that is
missing is not an error here; a resource rule marked ``required`` reports it.

Three rules keep a segment out of place from splitting the group it interrupts:

* a segment that would open a second instance of a group whose last instance still lacks it, where the group
  requires it, goes to that instance, which goes on from there (ORC, NTE, OBR: the NTE moved the order past its
  OBR; ORC, PV1, RXA: the PV1 closed the order; either way the OBR or RXA is that order's, not a new order
  without an ORC);
* after a segment placed out of order (an IN1 between an RXA and its RXR), the group instances it closed stay
  available: a later segment that no open group takes, in order or out of it, goes back to them if they accept it
  in order (the RXR is the RXA's), until a new instance opens at their level; one that an open group names stays
  there (OUL_R22: OBR, ORC, NTE, OBX, TXA, NTE: the TXA, out of order, goes to the order and closes the result;
  the NTE after it is the order's, as v2.8.2's ORDER has NTE after ORDER_DOCUMENT's TXA, not the result's);
* a segment nothing else takes goes to the latest closed group instance that names it (RXE, OBX, RXR: the OBX
  closed the RXE's group; the RXR is still the RXE's), rather than being left out;
* a segment that would open a new instance of a group though it is neither the group's first item nor its first
  required segment (VXU's ORDER, whose ORC the template makes optional for v2.3.1: a TQ1 or PRT after the RXA) goes
  to the last instance when that one has its required segment and no other such segment (RXA) follows before the
  group's first item (ORC) comes again: the timing sent after the vaccination is that order's, not an order with
  neither ORC nor RXA that takes the RXR and OBX after it away from their vaccination. A first required item that
  is a group (OML_O21 ORDER: OBSERVATION_REQUEST+) counts when the instance has one, and the groups open inside the
  instance stay open (an ORC's PRT after its OBR's results: the SPM after it is still that OBR's).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from hub.hl7.er7 import Segment

_ITEM = re.compile(r"^(?P<name>[A-Z][A-Z0-9_]*?)(?P<suffix>[?*+]?)$")
_SEGMENT_NAME = re.compile(r"^[A-Z][A-Z0-9]{2}$")


class StructureError(ValueError):
    """A structure declaration that cannot be used (reported with the template's file and line)."""


@dataclass(slots=True)
class Item:
    name: str
    optional: bool
    repeat: bool
    group: GroupDef | None  # None for a segment


@dataclass(slots=True, eq=False)
class GroupDef:
    name: str
    items: list[Item] = field(default_factory=list)
    # segment name → indexes of the items that are this segment (a segment may appear twice, e.g. ROL)
    segment_at: dict[str, tuple[int, ...]] = field(default_factory=dict)
    # segment name → (index, child group) for each child group that can start with the segment
    starts_child: dict[str, list[tuple[int, GroupDef]]] = field(default_factory=dict)
    first: frozenset[str] = frozenset()
    children: dict[str, GroupDef] = field(default_factory=dict)
    # the first required item when it is a segment (VXU ORDER: RXA), and the segments of the group's first item
    # (ORC): a segment of ``late`` (one of the group's own that opens it, being neither: TQ1, PRT) opens a new
    # instance only when a ``lead`` follows before the next of ``heads``
    lead: str | None = None
    # the first required item when it is a group (OML_O21 ORDER: OBSERVATION_REQUEST+): its first segments (OBR)
    # are the leads, and an instance has its required item when it has such a child
    lead_group: str | None = None
    heads: frozenset[str] = frozenset()
    late: frozenset[str] = frozenset()

    def segment_names(self) -> set[str]:
        names = set(self.segment_at)
        for child in self.children.values():
            names |= child.segment_names()
        return names


def parse_structure(items: Any, name: str = "ROOT") -> GroupDef:
    """Build a group definition from the YAML list of a message template's ``structure``.

    Raises:
        StructureError: a malformed item.
    """
    if not isinstance(items, list) or not items:
        raise StructureError(f"group {name} must be a non-empty list of segments and groups")
    group = GroupDef(name)
    seen_groups: set[str] = set()
    for raw in items:
        if isinstance(raw, str):
            m = _ITEM.match(raw.strip())
            if not m or not _SEGMENT_NAME.match(m["name"]):
                raise StructureError(f"{raw!r} is not a segment id with an optional ?, * or + suffix")
            suffix = m["suffix"]
            item = Item(m["name"], suffix in ("?", "*"), suffix in ("*", "+"), None)
        elif isinstance(raw, dict) and len(raw) == 1:
            ((key, value),) = raw.items()
            m = _ITEM.match(str(key).strip())
            if not m or _SEGMENT_NAME.match(m["name"]):
                raise StructureError(f"{key!r} is not a group name (upper case, not a 3-character segment id)")
            if m["name"] in seen_groups:
                raise StructureError(f"group {m['name']} appears twice in {name}")
            seen_groups.add(m["name"])
            suffix = m["suffix"]
            child = parse_structure(value, m["name"])
            item = Item(m["name"], suffix in ("?", "*"), suffix in ("*", "+"), child)
            group.children[m["name"]] = child
        else:
            raise StructureError(f"an item of {name} must be a segment id or a one-key mapping GROUP: [items]")
        index = len(group.items)
        group.items.append(item)
        if item.group is None:
            group.segment_at[item.name] = (*group.segment_at.get(item.name, ()), index)
    first: set[str] = set()
    for index, item in enumerate(group.items):
        if item.group is not None:
            for seg in item.group.first:
                group.starts_child.setdefault(seg, []).append((index, item.group))
    for item in group.items:
        first |= item.group.first if item.group is not None else {item.name}
        if not item.optional:
            if item.group is None:
                group.lead = item.name
            else:
                group.lead_group = item.name
            break
    group.first = frozenset(first)
    head = group.items[0]
    group.heads = head.group.first if head.group is not None else frozenset((head.name,))
    if group.lead is not None or group.lead_group is not None:
        group.late = frozenset(
            name for name in first if name in group.segment_at and name != group.lead and name not in group.heads
        )
    return group


class Node:
    """One instance of a group in a received message."""

    __slots__ = ("gdef", "parent", "path", "segs", "children", "pos", "made", "cache", "below", "settled")

    def __init__(self, gdef: GroupDef, parent: Node | None) -> None:
        self.gdef = gdef
        self.parent = parent
        # the group instances from the root down to this one (for _related, without walking the tree each time)
        self.path: tuple[Node, ...] = (*parent.path, self) if parent is not None else (self,)
        self.segs: dict[str, list[Segment]] = {}
        self.children: dict[str, list[Node]] = {}
        self.pos = -1
        # resource name → [(type, id, the group it was made in)] of the resources made from segments in this subtree
        self.made: dict[str, list[tuple[str, str, Node]]] | None = None
        # lookup results of the names no resource will be registered under any more (settle, freeze): a report's
        # twenty Observations ask for the same patient twenty times
        self.cache: dict[str, list[tuple[str, str]]] | None = None
        # lookup results that hold for every group below any child of this one of a kind, by (name, that child's
        # group definition): the twenty OBSERVATION groups of an order find its patient and specimen here,
        # worked out once
        self.below: dict[tuple[str, GroupDef], list[tuple[str, str]]] | None = None
        # the names settled in this tree (one set shared by every node; None: every name, frozen)
        self.settled: set[str] | None = parent.settled if parent is not None else set()

    def settle(self, name: str) -> None:
        """No more resources named ``name`` will be registered in this tree: its lookups may be remembered."""
        settled = self.settled
        if settled is not None:
            settled.add(name)

    def freeze(self) -> None:
        """No more resources will be registered in this tree: lookups may be remembered from now on."""
        stack = [self]
        while stack:
            node = stack.pop()
            node.settled = None
            for children in node.children.values():
                stack.extend(children)

    def release(self) -> None:
        """Break the tree's reference cycles (parent and children, path, made), so that the tree is freed as
        soon as the conversion is done, not by the cyclic garbage collector: the garbage of one message would
        otherwise fill the older generations and make the collector scan the whole heap now and then."""
        stack = [self]
        while stack:
            node = stack.pop()
            for children in node.children.values():
                stack.extend(children)
            node.children = {}
            node.parent = None
            node.path = ()
            node.made = None
            node.cache = None
            node.below = None

    def find(self, name: str) -> list[Segment]:
        """The segments ``name`` of the nearest group, from this one outwards, that has any."""
        node: Node | None = self
        while node is not None:
            found = node.segs.get(name)
            if found:
                return found
            node = node.parent
        return []

    def find_around(self, name: str) -> list[Segment]:
        """Every segment ``name`` of this group and of each group around it, the nearest group's first (as
        :meth:`find` walks): with a ``where``, a rule reads the order's PRT of a role when the encoded order's own
        PRT lines (RXE's, in the group inside the order's) are all of other roles."""
        found: list[Segment] = []
        node: Node | None = self
        while node is not None:
            segs = node.segs.get(name)
            if segs:
                found.extend(segs)
            node = node.parent
        return found

    def find_beside(self, name: str) -> list[Segment]:
        """The segments ``name`` that the groups beside this one's line hold themselves: for each group around
        this one, from the nearest outwards, the segments of its other kinds of child group (never another instance
        of a group on the way: another order, another patient's results), the first such group level that has any.
        An ORU order's report reads its patient's NTE (PATIENT_RESULT.PATIENT), not its own NTE nor a result's.
        For a segment of the message's own level (this is the message), those the message's groups hold themselves,
        as :meth:`find_beside_below` reads them: a visit whose PV1 has no group of its own (ADT_A01) reads the ARV
        of its VISIT_ACCESS groups, not the patient's ARV beside it."""
        if self.parent is None:
            return [s for instances in self.children.values() for child in instances for s in child.segs.get(name, ())]
        return self._beside(lambda instance: instance.segs.get(name, ()))

    def find_beside_below(self, name: str) -> list[Segment]:
        """The segments ``name`` of the groups beside this one's line and of every group inside them (as
        :meth:`find_below` walks each), the first group level, from this one outwards, that has any; for a segment
        of the message's own level (this is the message), the message's groups. The visit of an order reads the
        first order's number wherever the grammar puts the orders: beside its patient (ORM ORDER), in a group of
        theirs (OML_O21 OBSERVATION_REQUEST, OUL_R22 SPECIMEN.ORDER), beside a PV1 of the message's level (RDE)."""
        if self.parent is None:
            return [s for instances in self.children.values() for child in instances for s in child.find_below(name)]
        return self._beside(lambda instance: instance.find_below(name))

    def _beside(self, collect: Callable[[Node], Iterable[Segment]]) -> list[Segment]:
        """What ``collect`` finds in the groups beside this one's line, for each group around it from the nearest
        outwards (never another instance of a group on the way), at the first level where it finds any."""
        node: Node = self
        while node.parent is not None:
            parent = node.parent
            found: list[Segment] = []
            for kind, instances in parent.children.items():
                if kind == node.gdef.name:
                    continue
                for instance in instances:
                    found.extend(collect(instance))
            if found:
                return found
            node = parent
        return []

    def find_siblings(self, name: str) -> list[Segment]:
        """The segments ``name`` that the other instances of this group within the same group around it hold
        themselves, in message order: an OML_O21 order (OBSERVATION_REQUEST) asks whether another OBR follows
        its ORC (ORC, OBR, OBR: ORDER holds both groups)."""
        parent = self.parent
        if parent is None:
            return []
        found: list[Segment] = []
        for instance in parent.children.get(self.gdef.name, ()):
            if instance is not self:
                found.extend(instance.segs.get(name, ()))
        return found

    def find_inner(self, name: str) -> list[Segment]:
        """The segments ``name`` of the first group inside this one (depth first, in grammar order) that has any,
        else as :meth:`find`: the dispense of an RDS_O13 ORDER reads the timing of its encoded order (ENCODING's
        TQ1), which the groups around it do not have."""
        stack = [child for children in reversed(self.children.values()) for child in reversed(children)]
        while stack:
            node = stack.pop()
            found = node.segs.get(name)
            if found:
                return found
            stack.extend(child for children in reversed(node.children.values()) for child in reversed(children))
        return self.find(name)

    def find_below(self, name: str) -> list[Segment]:
        """Every segment ``name`` of this group and of every group inside it, each group's own before those of
        its groups (depth first, in grammar order, instances in message order): a BAR's account reads the
        guarantors (GT1) and insurances (IN1) of all its visits."""
        found: list[Segment] = []
        stack: list[Node] = [self]
        while stack:
            node = stack.pop()
            found.extend(node.segs.get(name) or ())
            stack.extend(child for children in reversed(node.children.values()) for child in reversed(children))
        return found

    def register(self, name: str, rtype: str, rid: str) -> None:
        node: Node | None = self
        while node is not None:
            made = node.made
            if made is None:
                made = node.made = {}
            made.setdefault(name, []).append((rtype, rid, self))
            node = node.parent

    def lookup(self, name: str) -> list[tuple[str, str]]:
        """The resources ``name`` made in this group, else in the nearest enclosing group that has any; but
        never one made inside another instance of a repeating group this group is not in: the results of an
        order without OBX are none, not the order before it's (nor is another patient's PID anyone's patient)."""
        settled = self.settled
        keep = settled is None or name in settled
        cache = None
        # nothing of that name made in this group: the answer is that of every group of its kind under its parent
        # (its siblings of that kind: the same groups around them, and what lies in one sibling is unrelated to
        # another), kept at the parent by the first of them (below, as where the name is found)
        parent = self.parent
        own = self.made
        alone = parent is not None and (own is None or name not in own)
        if keep:
            cache = self.cache
            if cache is None:
                cache = self.cache = {}
            else:
                known = cache.get(name)
                if known is not None:
                    return known
            if alone:
                assert parent is not None
                siblings = parent.below
                if siblings is not None:
                    known = siblings.get((name, self.gdef))
                    if known is not None:
                        cache[name] = known
                        return known
        result: list[tuple[str, str]] = []
        mine = self.path
        depth = len(mine)
        node: Node | None = self
        shared: tuple[dict[tuple[str, GroupDef], list[tuple[str, str]]], tuple[str, GroupDef]] | None = None
        while node is not None:
            made = node.made
            if made is not None and name in made:
                if keep and shared is None and node is not self:
                    # Reached from a child group on the way here, nothing found below it: the answer is the same
                    # for every group under any child of that kind (what lies in such a child is unrelated to
                    # the groups under another of its kind; what lies beside them is related or not by the two
                    # children's group definitions alone).
                    below = node.below
                    if below is None:
                        below = node.below = {}
                    key = (name, mine[len(node.path)].gdef)
                    known = below.get(key)
                    if known is not None:
                        result = known
                        break
                    shared = (below, key)
                # an origin that encloses this group (or is it) is related: the common case, told without a call
                found = [
                    (rtype, rid)
                    for rtype, rid, origin in made[name]
                    if (len(origin.path) <= depth and mine[len(origin.path) - 1] is origin) or self._related(origin)
                ]
                if found:
                    result = found
                    break
            node = node.parent
        if cache is not None:
            cache[name] = result
            if alone:
                assert parent is not None
                siblings = parent.below
                if siblings is None:
                    siblings = parent.below = {}
                siblings[(name, self.gdef)] = result
        if shared is not None:
            shared[0][shared[1]] = result
        return result

    def _related(self, origin: Node) -> bool:
        """False when ``origin`` and this group lie in two instances of one group (below their nearest common
        group): two orders of a message, two patients' results."""
        mine, theirs = self.path, origin.path
        for ours_node, their_node in zip(mine, theirs, strict=False):
            if ours_node is not their_node:
                # the children of the nearest common group on the way to each: two instances of one group?
                return ours_node.gdef is not their_node.gdef
        return True  # one is the other or encloses it

    def __repr__(self) -> str:
        return f"<Node {self.gdef.name}>"


def _append(node: Node, seg: Segment, index: int) -> None:
    node.segs.setdefault(seg.name, []).append(seg)
    if index > node.pos:
        node.pos = index


def _open(parent: Node, index: int, gdef: GroupDef, seg: Segment, stack: list[Node]) -> None:
    node = Node(gdef, parent)
    parent.children.setdefault(gdef.name, []).append(node)
    if index > parent.pos:
        parent.pos = index
    stack.append(node)
    indexes = gdef.segment_at.get(seg.name)
    if indexes:
        _append(node, seg, indexes[0])
        return
    child_index, child = gdef.starts_child[seg.name][0]
    _open(node, child_index, child, seg, stack)


def _accept_in_order(node: Node, seg: Segment, stack: list[Node], depth: int, segments: list[Segment], at: int) -> bool:
    gdef = node.gdef
    pos = node.pos
    for index in gdef.segment_at.get(seg.name, ()):
        if index > pos or (index == pos and gdef.items[index].repeat):
            del stack[depth + 1 :]
            _append(node, seg, index)
            return True
    for index, child in gdef.starts_child.get(seg.name, ()):
        if index > pos or (index == pos and gdef.items[index].repeat):
            if index == pos:
                instances = node.children.get(child.name)
                if instances and (
                    _completes(instances[-1], child, seg)
                    or (seg.name in child.late and _late(instances[-1], child, seg, segments, at))
                ):
                    if child.lead_group is not None and len(stack) > depth + 1 and stack[depth + 1] is instances[-1]:
                        # a late segment of an instance whose required item is a group (an OML ORC's PRT after its
                        # OBR's results): the groups open inside it go on (the OBR's specimen after it is the OBR's)
                        return True
                    del stack[depth + 1 :]
                    stack.append(instances[-1])
                    return True
            del stack[depth + 1 :]
            _open(node, index, child, seg, stack)
            return True
    return False


def _late(last: Node, child: GroupDef, seg: Segment, segments: list[Segment], at: int) -> bool:
    """Whether ``seg`` (at ``at`` in ``segments``), about to open a new instance of ``child`` though it is neither
    the group's first item nor its required segment (a TQ1 after an RXA), is rather a late segment of the last
    instance, which has its required segment: no required segment follows before the group's first item does
    (then no new instance would get one). If so, it is placed there, out of order (the instance's place in the
    grammar stays where it was: an RXR after it is still in order)."""
    if last.gdef is not child:
        return False
    if child.lead is not None:
        if child.lead not in last.segs:
            return False
        leads: frozenset[str] = frozenset((child.lead,))
    elif child.lead_group is not None:
        if not last.children.get(child.lead_group):
            return False
        leads = child.children[child.lead_group].first
    else:
        return False
    heads = child.heads
    for later in range(at + 1, len(segments)):
        name = segments[later].name
        if name in leads:
            return False
        if name in heads:
            break
    last.segs.setdefault(seg.name, []).append(seg)
    return True


def _completes(open_node: Node, child: GroupDef, seg: Segment) -> bool:
    """Whether ``seg``, about to open a new instance of ``child``, is rather the required segment that the last
    instance of ``child`` still lacks; if so, it is placed there (and the instance goes on from it).

    A segment the structure names later in the group (an ORC's NTE before its OBR, an OBX before the RXA), or one
    out of place that closed the group (a PV1 between ORC and RXA), moves past the instance's required segment;
    without this, that segment would open a second instance and the order would lose its ORC."""
    if open_node.gdef is not child or seg.name in open_node.segs:
        return False
    for index in child.segment_at.get(seg.name, ()):
        if not child.items[index].optional:
            open_node.segs[seg.name] = [seg]
            open_node.pos = index
            return True
    return False


def _latest_naming(node: Node, name: str) -> Node | None:
    """The last instance, below ``node``, of a group that names segment ``name`` itself: the groups of ``node``'s
    structure from the last to the first, each group's last instance, depth first."""
    for item in reversed(node.gdef.items):
        if item.group is None:
            continue
        instances = node.children.get(item.name)
        if not instances:
            continue
        last = instances[-1]
        if name in item.group.segment_at:
            return last
        found = _latest_naming(last, name)
        if found is not None:
            return found
    return None


def group_segments(root_def: GroupDef, segments: list[Segment]) -> tuple[Node, list[Segment]]:
    """Place the segments of a message in group instances.

    Returns:
        The root node and the segments that no group of the structure names (left out).
    """
    root = Node(root_def, None)
    stack = [root]
    unplaced: list[Segment] = []
    # The group instances an out-of-order segment closed (stack[keep:] before it), so that the segments after the
    # intruder that still belong to them go back there: an IN1 between an RXA and its RXR does not cost the
    # vaccination its route.
    resume: list[Node] | None = None
    keep = 0
    for at, seg in enumerate(segments):
        placed = False
        for depth in range(len(stack) - 1, -1, -1):
            if _accept_in_order(stack[depth], seg, stack, depth, segments, at):
                placed = True
                if depth < keep:
                    resume = None  # a new instance where the closed ones were: the sender has moved on
                break
        if placed:
            continue
        # Out of order: the innermost group that names the segment takes it where it is.
        for depth in range(len(stack) - 1, -1, -1):
            node = stack[depth]
            indexes = node.gdef.segment_at.get(seg.name)
            if indexes == (0,) and depth and seg.name in node.segs and not node.gdef.items[0].repeat:
                # the group's first segment, which this instance has: another instance's, which a group further
                # out opens (MSH, PID, PV1, OBX, NTE, OBX: the second result is not the first's, nor its comment)
                continue
            starts = None if indexes else node.gdef.starts_child.get(seg.name)
            if indexes or starts:
                if len(stack) > depth + 1 and (resume is None or depth + 1 < keep):
                    resume, keep = stack[depth + 1 :], depth + 1
                del stack[depth + 1 :]
                if indexes:
                    node.segs.setdefault(seg.name, []).append(seg)
                elif starts:
                    _open(node, starts[0][0], starts[0][1], seg, stack)
                placed = True
                break
        if not placed and resume is not None:
            # Nothing open takes it: the groups the last out-of-order segment closed may.
            candidate = [*stack[:keep], *resume]
            for depth in range(len(candidate) - 1, keep - 1, -1):
                if _accept_in_order(candidate[depth], seg, candidate, depth, segments, at):
                    stack, resume, placed = candidate, None, True
                    break
        if not placed and seg.name[0] != "Z":
            # Still nowhere: the latest group instance that names it, among those already closed below the open
            # ones (an RXR after an OBX that closed the RXE's group), takes it rather than losing it.
            for depth in range(len(stack) - 1, -1, -1):
                found = _latest_naming(stack[depth], seg.name)
                if found is not None:
                    found.segs.setdefault(seg.name, []).append(seg)
                    placed = True
                    break
        if not placed and seg.name[0] == "Z" and len(stack) > 0:
            # A Z-segment (a site's own segment) extends the segment it follows (v2.5.1 §2.8.3): it joins the
            # group instance that is open, where templates (or a sender's overlay) find it by `scope: up`.
            stack[-1].segs.setdefault(seg.name, []).append(seg)
            placed = True
        if not placed:
            unplaced.append(seg)
    return root, unplaced


def iter_path(root: Node, groups: tuple[str, ...], segment: str) -> list[tuple[Segment, Node]]:
    """Every segment ``segment`` in the group instances at ``groups`` (a path from the root), in order."""
    if not groups:
        # a segment of the message's top level (PID, PV1, MSH): the rule for most resources, asked once per rule
        found = root.segs.get(segment)
        return [(seg, root) for seg in found] if found else []
    nodes = [root]
    for name in groups:
        nodes = [child for node in nodes for child in node.children.get(name, ())]
    return [(seg, node) for node in nodes for seg in node.segs.get(segment, ())]


def absent_group(root: Node, groups: tuple[str, ...]) -> tuple[str, str] | None:
    """The outermost group on the path ``groups`` that the message has no instance of, and the segment opening it.

    Why: a required segment sent without the segment that opens its group (an RXD with no ORC before it: RDS_O13's
    ORDER) is left out of the tree; the error then names that group and its opening segment (ORDER, ORC) instead
    of calling a segment that the message has missing.
    """
    nodes = [root]
    for name in groups:
        found = [child for node in nodes for child in node.children.get(name, ())]
        if not found:
            gdef = nodes[0].gdef.children.get(name)
            if gdef is None or not gdef.items:
                return None
            first = gdef.items[0]
            while first.group is not None and first.group.items:
                first = first.group.items[0]
            return name, first.name
        nodes = found
    return None


def has_path(root_def: GroupDef, groups: tuple[str, ...], segment: str) -> bool:
    gdef = root_def
    for name in groups:
        child = gdef.children.get(name)
        if child is None:
            return False
        gdef = child
    return segment in gdef.segment_at
