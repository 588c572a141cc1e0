"""Request-body schemas of the Earth Engine REST API v1, and a checker that answers as Google's API front end does.

The discovery document shipped in the earthengine-api wheel has methods but no schemas, so the request bodies the
service checks are transcribed here, in one place, from the published reference:

* Source: https://developers.google.com/earth-engine/reference/rest/v1/ (pages ``ImageManifest``,
  ``projects.assets`` (``EarthEngineAsset``, ``Tileset``, ``MissingData``), ``projects.image/import``
  (``ImportImageRequest``), ``projects.image/importExternal`` (``ImportExternalImageRequest``),
  ``projects.image/computePixels`` (``ComputePixelsRequest``, ``PixelGrid``), ``projects.value/compute``,
  ``projects.operations`` (``Operation``), ``Shared.Types/PyramidingPolicy``), and earthengine-api 1.7.50's
  ``ee/data.py`` for what the client sends.
* Read: 2026-12-07.

Each message maps its JSON field names to a type: ``string``, ``bool``, ``int32``, ``int64`` (a JSON number or a
decimal string), ``double``, ``timestamp`` (RFC 3339 string), ``struct`` (any JSON object: ``properties``),
``value`` (any JSON; parts this checker does not descend into), ``enum:<Name>``, ``msg:<Name>``; a ``[]`` suffix
makes it repeated. Like the service's JSON parser (proto3 JSON), a field may be spelled in lowerCamelCase or in its
proto snake_case name (``tilesetBandIndex`` or ``tileset_band_index``), and an enum may be given by name or number.

:func:`check_body` returns the violations in the service's wording, as observed in Google API answers (the
front end is shared by every Google API; exact Earth Engine answers are not published):

* unknown field: ``Invalid JSON payload received. Unknown name "foo" at 'image_manifest': Cannot find field.``
  (at the top level: ``Unknown name "foo": Cannot find field.``), the path in proto snake_case with ``[i]`` indices;
* a list for a field that is not repeated: ``... Unknown name "x" at '...': Proto field is not repeating, cannot
  start list.``;
* a wrong scalar type: ``Invalid value at 'image_manifest.bands[0].tileset_band_index' (TYPE_INT32), "zero"``;
* an invalid enum: ``Invalid value at 'image_manifest.pyramiding_policy'
  (type.googleapis.com/google.earthengine.v1.PyramidingPolicy), "AVERAGE"``;
* a bad timestamp: ``Invalid value at 'image_manifest.start_time' (type.googleapis.com/google.protobuf.Timestamp),
  Field 'startTime', Invalid time format: Failed to parse input``.

The service answers HTTP 400 ``INVALID_ARGUMENT`` with the violations joined by newlines
(:func:`invalid_argument_body`). Where this file leaves a part as ``value`` (band descriptions of
``EarthEngineAsset``, ``visualizationOptions``, expression graphs - those are checked against ``algorithms.json``
by :mod:`ee_emulator.contract`), nothing inside it is checked.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from typing import Any

__all__ = [
    "ENUMS",
    "MESSAGES",
    "REQUEST_MESSAGES",
    "SCHEMA_READ_ON",
    "SCHEMA_SOURCE",
    "check_body",
    "invalid_argument_body",
    "request_message",
]

#: Where the schemas were transcribed from, and when.
SCHEMA_SOURCE = "https://developers.google.com/earth-engine/reference/rest/v1/"
SCHEMA_READ_ON = "2026-12-07"

_PACKAGE = "google.earthengine.v1"

ENUMS: dict[str, tuple[str, ...]] = {
    # Shared.Types/PyramidingPolicy
    "PyramidingPolicy": ("PYRAMIDING_POLICY_UNSPECIFIED", "MEAN", "SAMPLE", "MIN", "MAX", "MODE", "MEDIAN"),
    # EarthEngineAsset.Tileset.DataType
    "DataType": ("DATA_TYPE_UNSPECIFIED", "INT8", "UINT8", "INT16", "UINT16", "INT32", "UINT32", "FLOAT", "DOUBLE"),
    # ImageFileFormat
    "ImageFileFormat": (
        "IMAGE_FILE_FORMAT_UNSPECIFIED",
        "JPEG",
        "PNG",
        "AUTO_JPEG_PNG",
        "NPY",
        "GEO_TIFF",
        "TF_RECORD_IMAGE",
        "MULTI_BAND_IMAGE_TILE",
        "ZIPPED_GEO_TIFF",
        "ZIPPED_GEO_TIFF_PER_BAND",
    ),  # fmt: skip
    # EarthEngineAsset.Type
    "Type": ("TYPE_UNSPECIFIED", "IMAGE", "IMAGE_COLLECTION", "TABLE", "FOLDER", "CLASSIFIER", "FEATURE_VIEW"),
}

MESSAGES: dict[str, dict[str, str]] = {
    "ImportImageRequest": {
        "imageManifest": "msg:ImageManifest",
        "description": "string",
        "overwrite": "bool",
        "requestId": "string",
    },
    "ImportExternalImageRequest": {"imageManifest": "msg:ImageManifest", "overwrite": "bool"},
    "ImageManifest": {
        "name": "string",
        "properties": "struct",
        "uriPrefix": "string",
        "tilesets": "msg:Tileset[]",
        "bands": "msg:TilesetBand[]",
        "maskBands": "msg:TilesetMaskBand[]",
        "footprint": "msg:PixelFootprint",
        "missingData": "msg:MissingData",
        "pyramidingPolicy": "enum:PyramidingPolicy",
        "startTime": "timestamp",
        "endTime": "timestamp",
        "skipMetadataRead": "bool",
        "memo": "string",
    },
    # EarthEngineAsset.Tileset
    "Tileset": {
        "id": "string",
        "sources": "msg:ImageSource[]",
        "dataType": "enum:DataType",
        "crs": "string",
        "subdatasetPrefix": "string",
    },
    # The source of a tileset (the issue calls it TilesetSource; the reference names it ImageSource).
    "ImageSource": {"uris": "string[]", "affineTransform": "msg:AffineTransform"},
    "TilesetBand": {
        "id": "string",
        "tilesetId": "string",
        "tilesetBandIndex": "int32",
        "missingData": "msg:MissingData",
        "pyramidingPolicy": "enum:PyramidingPolicy",
    },
    "TilesetMaskBand": {"tilesetId": "string", "bandIds": "string[]"},
    "PixelFootprint": {"points": "msg:GridPoint[]", "bandId": "string"},
    "GridPoint": {"x": "double", "y": "double"},
    # EarthEngineAsset.MissingData
    "MissingData": {"values": "double[]"},
    "AffineTransform": {
        "scaleX": "double",
        "shearX": "double",
        "translateX": "double",
        "shearY": "double",
        "scaleY": "double",
        "translateY": "double",
    },
    "PixelGrid": {
        "dimensions": "msg:GridDimensions",
        "affineTransform": "msg:AffineTransform",
        "crsCode": "string",
        "crsWkt": "string",
    },
    "GridDimensions": {"width": "int32", "height": "int32"},
    "ComputePixelsRequest": {
        "expression": "msg:Expression",
        "fileFormat": "enum:ImageFileFormat",
        "grid": "msg:PixelGrid",
        "bandIds": "string[]",
        "visualizationOptions": "value",
        "workloadTag": "string",
    },
    "ComputeValueRequest": {"expression": "msg:Expression", "workloadTag": "string"},
    "Expression": {"result": "string", "values": "value"},
    "EarthEngineAsset": {
        "type": "enum:Type",
        "name": "string",
        "id": "string",
        "updateTime": "timestamp",
        "title": "string",
        "description": "string",
        "properties": "struct",
        "startTime": "timestamp",
        "endTime": "timestamp",
        "geometry": "struct",
        "bands": "value",
        "sizeBytes": "int64",
        "featureCount": "int64",
        "quota": "value",
        "tilesets": "msg:Tileset[]",
        "cloudStorageLocation": "msg:CloudStorageLocation",
        # Deprecated spelling of the same union (the client's legacy createAsset sends gcs_location).
        "gcsLocation": "msg:CloudStorageLocation",
        "featureViewAssetLocation": "value",
    },
    "CloudStorageLocation": {"uris": "string[]"},
    "Operation": {
        "name": "string",
        "metadata": "struct",
        "done": "bool",
        "error": "msg:Status",
        "response": "struct",
    },
    "Status": {"code": "int32", "message": "string", "details": "value"},
}

#: Discovery method id suffix -> the message its request body is.
REQUEST_MESSAGES: dict[str, str] = {
    "projects.image.import": "ImportImageRequest",
    "projects.image.importExternal": "ImportExternalImageRequest",
    "projects.image.computePixels": "ComputePixelsRequest",
    "projects.value.compute": "ComputeValueRequest",
    "projects.assets.create": "EarthEngineAsset",
}

_SCALAR_TYPES = {"string": "TYPE_STRING", "bool": "TYPE_BOOL", "int32": "TYPE_INT32", "int64": "TYPE_INT64",
                 "double": "TYPE_DOUBLE"}  # fmt: skip
_INT32 = (-(2**31), 2**31 - 1)


def request_message(method_id: str) -> str | None:
    """The request message of a discovery method id (``earthengine.projects.image.import``), or None."""
    for suffix, message in REQUEST_MESSAGES.items():
        if method_id == suffix or method_id.endswith("." + suffix):
            return message
    return None


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _shown(value: Any) -> str:
    return json.dumps(value) if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def check_body(message: str, body: Any) -> list[str]:
    """Return the violations of ``body`` as the message ``message`` (empty: the service would parse it)."""
    problems: list[str] = []
    _check_message(message, body, "", problems)
    return problems


def invalid_argument_body(problems: list[str]) -> dict[str, Any]:
    """The HTTP 400 ``INVALID_ARGUMENT`` error body the front end answers for ``problems``."""
    violations = []
    for problem in problems:
        where = re.search(r" at '([^']*)'", problem)
        violation = {"description": problem}
        if where:
            violation = {"field": where.group(1), "description": problem}
        violations.append(violation)
    return {
        "error": {
            "code": 400,
            "message": "\n".join(problems),
            "status": "INVALID_ARGUMENT",
            "details": [{"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": violations}],
        }
    }


def _check_message(message: str, value: Any, path: str, problems: list[str]) -> None:
    fields = MESSAGES[message]
    if not isinstance(value, Mapping):
        problems.append(f"Invalid value at '{path}' (type.googleapis.com/{_PACKAGE}.{message}), {_shown(value)}")
        return
    for key, item in value.items():
        name = key if key in fields else _camel(key)
        where = f" at '{path}'" if path else ""
        if name not in fields:
            problems.append(f'Invalid JSON payload received. Unknown name "{key}"{where}: Cannot find field.')
            continue
        child = f"{path}.{_snake(name)}" if path else _snake(name)
        _check_field(fields[name], item, child, key, problems)


def _check_field(kind: str, value: Any, path: str, key: str, problems: list[str]) -> None:
    if value is None:  # JSON null: the field is unset
        return
    if kind.endswith("[]"):
        if not isinstance(value, list):
            problems.append(f"Invalid value at '{path}' ({_type_label(kind[:-2])}), {_shown(value)}")
            return
        for index, item in enumerate(value):
            _check_single(kind[:-2], item, f"{path}[{index}]", key, problems)
        return
    if isinstance(value, list) and kind not in ("value", "struct"):
        parent = path.rsplit(".", 1)[0] if "." in path else ""
        where = f" at '{parent}'" if parent else ""
        problems.append(
            f'Invalid JSON payload received. Unknown name "{key}"{where}: Proto field is not repeating, cannot '
            "start list."
        )
        return
    _check_single(kind, value, path, key, problems)


def _type_label(kind: str) -> str:
    if kind.startswith("msg:"):
        return f"type.googleapis.com/{_PACKAGE}.{kind[4:]}"
    if kind.startswith("enum:"):
        return f"type.googleapis.com/{_PACKAGE}.{kind[5:]}"
    if kind == "timestamp":
        return "type.googleapis.com/google.protobuf.Timestamp"
    return _SCALAR_TYPES.get(kind, "TYPE_MESSAGE")


def _check_single(kind: str, value: Any, path: str, key: str, problems: list[str]) -> None:
    if kind.startswith("msg:"):
        _check_message(kind[4:], value, path, problems)
        return
    bad = f"Invalid value at '{path}' ({_type_label(kind)}), {_shown(value)}"
    if kind.startswith("enum:"):
        names = ENUMS[kind[5:]]
        if isinstance(value, bool) or not (
            (isinstance(value, str) and value in names) or (isinstance(value, int) and 0 <= value < len(names))
        ):
            problems.append(bad)
        return
    if kind == "string":
        if not isinstance(value, str):
            problems.append(bad)
    elif kind == "bool":
        if not isinstance(value, bool):
            problems.append(bad)
    elif kind in ("int32", "int64"):
        number = _integer(value)
        if number is None or (kind == "int32" and not _INT32[0] <= number <= _INT32[1]):
            problems.append(bad)
    elif kind == "double":
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            problems.append(bad)
        elif isinstance(value, str) and value not in ("NaN", "Infinity", "-Infinity"):
            try:
                float(value)
            except ValueError:
                problems.append(bad)
    elif kind == "timestamp":
        if not _is_timestamp(value):
            problems.append(
                f"Invalid value at '{path}' ({_type_label(kind)}), Field '{_camel(key)}', Invalid time format: "
                "Failed to parse input"
            )
    elif kind == "struct":
        if not isinstance(value, Mapping):
            problems.append(f"Invalid value at '{path}' (type.googleapis.com/google.protobuf.Struct), {_shown(value)}")


def _integer(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value)
    return None


_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})")


def _is_timestamp(value: Any) -> bool:
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        return False
    text = re.sub(r"\.(\d{1,9})", lambda m: "." + m.group(1)[:6].ljust(6, "0"), value).replace("Z", "+00:00")
    try:
        dt.datetime.fromisoformat(text)
    except ValueError:
        return False
    return True
