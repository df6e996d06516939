"""FHIR operations of the master patient index (``router``; the app includes it before the generic FHIR routes).

=====================================  =====================================================================
``POST /fhir/Patient/$match``          FHIR R4 operation (http://hl7.org/fhir/R4/patient-operation-match.html):
                                       Parameters ``resource`` (Patient), ``onlyCertainMatches``, ``count`` →
                                       searchset Bundle of master Patients, ``search.mode`` match,
                                       ``search.score``, extension ``match-grade``. Needs Patient search.
``POST /fhir/Patient/$merge``          operator: ``source-patient`` and ``target-patient`` (Reference) — the
                                       A40 merge (parameters named after the FHIR R5 Patient $merge).
``POST /fhir/Patient/$unmerge``        operator: ``source-patient`` — undo that record's latest merge.
``POST /fhir/Patient/{id}/$mpi-link``  operator: ``other`` (Reference) — the same person: masters fold.
``POST /fhir/Patient/{id}/$mpi-unlink`` operator: the record is someone else: its own master.
``POST /fhir/Task/{id}/$mpi-resolve``  operator: ``decision`` (code ``same`` | ``distinct``) on a review Task.
=====================================  =====================================================================

Operator operations need an operator principal (``role=operator``) with ``update`` on Patient (and Task for
``$mpi-resolve``); each is audited as an ``operation`` and commits with its audit event.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from typing import Annotated, Any, cast

import orjson
from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy.orm import Session

from hub.config import Settings
from hub.db import get_sessionmaker
from hub.errors import Forbidden, InvalidInput
from hub.fhir import jsoncodec
from hub.identity import linking, merging, records
from hub.security.access import Access
from hub.security.audit import audited
from hub.security.deps import PrincipalDep, RequestContextDep
from hub.security.directory import StoreDirectory
from hub.security.principal import Principal

FHIR_JSON = "application/fhir+json"
MATCH_GRADE_URL = "http://hl7.org/fhir/StructureDefinition/match-grade"
DEFAULT_MATCH_COUNT = 10
MAX_MATCH_COUNT = 100

_OBJECT: dict[str, Any] = {"schema": {"type": "object"}}
_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "A FHIR resource (Bundle or Parameters)", "content": {FHIR_JSON: _OBJECT}},
    **{
        status: {"description": f"{text} (OperationOutcome)", "content": {FHIR_JSON: _OBJECT}}
        for status, text in (
            (400, "Invalid parameters"),
            (401, "No or an invalid bearer token"),
            (403, "Not allowed"),
            (404, "Unknown record, merge or review"),
            (409, "Already decided, or a later merge is in the way"),
            (429, "Rate limited"),
        )
    },
}


def _body(description: str) -> dict[str, Any]:
    """The OpenAPI request body: a Parameters resource (bodies are read as FHIR JSON, not by a model)."""
    return {
        "requestBody": {
            "description": description,
            "required": False,
            "content": {FHIR_JSON: _OBJECT, "application/json": _OBJECT},
        }
    }


router = APIRouter(prefix="/fhir", tags=["master patient index"], default_response_class=Response, responses=_RESPONSES)


def _settings(request: Request) -> Settings:
    return cast(Settings, request.app.state.settings)


def _session(request: Request) -> Iterator[Session]:
    session = get_sessionmaker(_settings(request))()
    try:
        yield session
    finally:
        session.rollback()
        session.close()


SessionDep = Annotated[Session, Depends(_session)]


def _response(resource: Mapping[str, Any], status: int = 200) -> Response:
    return Response(jsoncodec.dumps(resource), status_code=status, media_type=FHIR_JSON)


async def _parameters(request: Request) -> list[dict[str, Any]]:
    """The ``parameter`` list of a Parameters body (a bare resource counts as parameter ``resource``)."""
    raw = await request.body()
    try:
        body = jsoncodec.loads(raw) if raw else None
    except orjson.JSONDecodeError as exc:
        raise InvalidInput("the body is not JSON") from exc
    if not isinstance(body, dict):
        raise InvalidInput("expected a Parameters resource", expression="Parameters")
    if body.get("resourceType") != "Parameters":
        return [{"name": "resource", "resource": body}]
    params = body.get("parameter") or []
    if not isinstance(params, list) or not all(isinstance(p, dict) for p in params):
        raise InvalidInput("Parameters.parameter must be a list of parameters", expression="Parameters.parameter")
    return params


def _one(params: list[dict[str, Any]], name: str) -> tuple[int, dict[str, Any]] | None:
    found = [(i, p) for i, p in enumerate(params) if p.get("name") == name]
    if len(found) > 1:
        raise InvalidInput(
            f"parameter {name!r} given more than once", expression=f"Parameters.parameter[{found[1][0]}]"
        )
    return found[0] if found else None


def _reference_param(params: list[dict[str, Any]], name: str, *, required: bool = True) -> str | None:
    item = _one(params, name)
    if item is None:
        if required:
            raise InvalidInput(f"parameter {name!r} is required", expression="Parameters.parameter")
        return None
    i, param = item
    pid = records.ref_id(param.get("valueReference"))
    if pid is None:
        raise InvalidInput(
            f"parameter {name!r} must be a Reference to a Patient",
            expression=f"Parameters.parameter[{i}].valueReference",
        )
    return pid


def _require_operator(principal: Principal, settings: Settings, session: Session, *resource_types: str) -> Access:
    if not principal.hub_wide:
        raise Forbidden("only a hub operator may change the master patient index")
    access = Access(principal, settings, StoreDirectory(session))
    for rtype in resource_types:
        access.authorize("update", rtype)
    return access


def _parameters_out(**values: Any) -> dict[str, Any]:
    out = []
    for name, value in values.items():
        if value is None:
            continue
        if isinstance(value, bool):
            out.append({"name": name, "valueBoolean": value})
        elif isinstance(value, int):
            out.append({"name": name, "valueInteger": value})
        elif isinstance(value, dict):
            out.append({"name": name, "valueReference": value})
        else:
            out.append({"name": name, "valueString": str(value)})
    return {"resourceType": "Parameters", "parameter": out}


# -- $match --------------------------------------------------------------------------------------------------


@router.post(
    "/Patient/$match",
    name="operation-match",
    summary="Patient $match: scored candidate master patients",
    openapi_extra=_body("Parameters: resource (Patient), onlyCertainMatches, count"),
)
async def patient_match(
    request: Request, principal: PrincipalDep, ctx: RequestContextDep, session: SessionDep
) -> Response:
    params = await _parameters(request)
    item = _one(params, "resource")
    if item is None or not isinstance(item[1].get("resource"), dict):
        raise InvalidInput("parameter 'resource' (a Patient) is required", expression="Parameters.parameter")
    index, param = item
    patient = param["resource"]
    if patient.get("resourceType") != "Patient":
        raise InvalidInput("the resource must be a Patient", expression=f"Parameters.parameter[{index}].resource")
    only_certain = False
    if (oc := _one(params, "onlyCertainMatches")) is not None:
        if not isinstance(oc[1].get("valueBoolean"), bool):
            raise InvalidInput("onlyCertainMatches is a boolean", expression=f"Parameters.parameter[{oc[0]}]")
        only_certain = oc[1]["valueBoolean"]
    count = DEFAULT_MATCH_COUNT
    if (cp := _one(params, "count")) is not None:
        value = cp[1].get("valueInteger")
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise InvalidInput("count is a positive integer", expression=f"Parameters.parameter[{cp[0]}]")
        count = min(value, MAX_MATCH_COUNT)

    settings = _settings(request)
    access = Access(principal, settings, StoreDirectory(session))
    base = settings.fhir_base_url.rstrip("/")
    with audited(session, principal=principal, interaction="operation", context=ctx) as trail:
        access.authorize("search-type", "Patient")
        entries = []
        for cand in linking.match(session, patient, count=count, only_certain=only_certain):
            master = records.read_patient(session, cand.master_id)
            if master is None or not access.can_read(master, "search-type"):
                continue
            trail.add(master)
            entries.append(
                {
                    "fullUrl": f"{base}/Patient/{cand.master_id}",
                    "resource": master,
                    "search": {
                        "extension": [{"url": MATCH_GRADE_URL, "valueCode": cand.match.grade}],
                        "mode": "match",
                        "score": cand.match.score,
                    },
                }
            )
    session.commit()
    bundle = {"resourceType": "Bundle", "id": uuid.uuid4().hex, "type": "searchset", "total": len(entries)}
    if entries:
        bundle["entry"] = entries
    return _response(bundle)


# -- operator operations -------------------------------------------------------------------------------------


@router.post(
    "/Patient/$merge",
    name="operation-merge",
    summary="Merge a hospital record into another (ADT A40)",
    openapi_extra={
        **_body("Parameters: source-patient, target-patient (Reference)"),
        "x-fhir-operation-definition": "http://hl7.org/fhir/OperationDefinition/Patient-merge",
    },
)
async def patient_merge(
    request: Request, principal: PrincipalDep, ctx: RequestContextDep, session: SessionDep
) -> Response:
    params = await _parameters(request)
    source = _reference_param(params, "source-patient")
    target = _reference_param(params, "target-patient")
    assert source is not None and target is not None
    settings = _settings(request)
    with audited(
        session,
        principal=principal,
        interaction="operation",
        context=ctx,
        refs=[f"Patient/{source}", f"Patient/{target}"],
    ) as trail:
        _require_operator(principal, settings, session, "Patient")
        result = merging.merge(session, source, target)
        trail.patients.extend([source, target])
    session.commit()
    return _response(
        _parameters_out(
            merge=result.merge_id,
            result=records.patient_ref(target),
            master=records.patient_ref(result.master_id) if result.master_id else None,
            already=result.already,
        )
    )


@router.post(
    "/Patient/$unmerge",
    name="operation-unmerge",
    summary="Undo the latest merge of a hospital record",
    openapi_extra=_body("Parameters: source-patient (Reference)"),
)
async def patient_unmerge(
    request: Request, principal: PrincipalDep, ctx: RequestContextDep, session: SessionDep
) -> Response:
    params = await _parameters(request)
    source = _reference_param(params, "source-patient")
    assert source is not None
    settings = _settings(request)
    with audited(
        session, principal=principal, interaction="operation", context=ctx, refs=[f"Patient/{source}"]
    ) as trail:
        _require_operator(principal, settings, session, "Patient", "Task")
        result = merging.unmerge(session, source_id=source)
        trail.patients.extend([result.source_id, result.target_id])
    session.commit()
    return _response(
        _parameters_out(
            merge=result.merge_id,
            master=records.patient_ref(result.master_id) if result.master_id else None,
        )
    )


@router.post(
    "/Patient/{patient_id}/$mpi-link",
    name="operation-mpi-link",
    summary="Operator: two records are the same person",
    openapi_extra=_body("Parameters: other (Reference to a Patient record or master)"),
)
async def patient_link(
    patient_id: str, request: Request, principal: PrincipalDep, ctx: RequestContextDep, session: SessionDep
) -> Response:
    params = await _parameters(request)
    other = _reference_param(params, "other")
    assert other is not None
    settings = _settings(request)
    with audited(
        session,
        principal=principal,
        interaction="operation",
        context=ctx,
        refs=[f"Patient/{patient_id}", f"Patient/{other}"],
    ) as trail:
        _require_operator(principal, settings, session, "Patient", "Task")
        master = linking.link(session, patient_id, other)
        trail.patients.extend([patient_id, other])
    session.commit()
    return _response(_parameters_out(master=records.patient_ref(master)))


@router.post(
    "/Patient/{patient_id}/$mpi-unlink",
    name="operation-mpi-unlink",
    summary="Operator: a record is not the person its master is",
)
async def patient_unlink(
    patient_id: str, request: Request, principal: PrincipalDep, ctx: RequestContextDep, session: SessionDep
) -> Response:
    settings = _settings(request)
    with audited(
        session, principal=principal, interaction="operation", context=ctx, refs=[f"Patient/{patient_id}"]
    ) as trail:
        _require_operator(principal, settings, session, "Patient", "Task")
        master = linking.unlink(session, patient_id)
        trail.patients.append(patient_id)
    session.commit()
    return _response(_parameters_out(master=records.patient_ref(master)))


@router.post(
    "/Task/{task_id}/$mpi-resolve",
    name="operation-mpi-resolve",
    summary="Operator: decide a patient-match review Task",
    openapi_extra=_body("Parameters: decision (code same | distinct)"),
)
async def task_resolve(
    task_id: str, request: Request, principal: PrincipalDep, ctx: RequestContextDep, session: SessionDep
) -> Response:
    params = await _parameters(request)
    item = _one(params, "decision")
    decision = item[1].get("valueCode") if item else None
    if decision not in ("same", "distinct"):
        raise InvalidInput(
            "parameter 'decision' must be the code 'same' or 'distinct'", expression="Parameters.parameter"
        )
    settings = _settings(request)
    with audited(session, principal=principal, interaction="operation", context=ctx, refs=[f"Task/{task_id}"]):
        _require_operator(principal, settings, session, "Patient", "Task")
        master = linking.resolve_review(session, task_id, decision)
    session.commit()
    return _response(_parameters_out(master=records.patient_ref(master) if master else None, decision=decision))
