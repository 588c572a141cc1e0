"""Element properties (images, features and collections alike): get, set, setMulti, propertyNames, copyProperties."""

from __future__ import annotations

from typing import Any

from ee_emulator.errors import EEError
from ee_emulator.objects import EECollection, EEFeature, EEImage, as_list, get_property, type_name
from ee_emulator.registry import algorithm


def with_properties(element: Any, properties: dict[str, Any], where: str) -> Any:
    """A copy of an element with other properties (elements are immutable)."""
    if isinstance(element, EEImage):
        return EEImage(element.bands, properties, element.image_id, element.version)
    if isinstance(element, EEFeature):
        return EEFeature(element.geometry, properties, element.feature_id)
    if isinstance(element, EECollection):
        return EECollection(element.kind, element.elements, properties, element.collection_id, element.version)
    raise EEError(f"{where}: expected an Element (Image, Feature or collection), got {type_name(element)}")


def _properties(element: Any, where: str) -> dict[str, Any]:
    if isinstance(element, EEImage | EEFeature | EECollection):
        return dict(element.properties)
    raise EEError(f"{where}: expected an Element (Image, Feature or collection), got {type_name(element)}")


@algorithm("Element.get")
def element_get(object: Any, property: str, defaultValue: Any = None) -> Any:  # noqa: A002
    """A property, or null (or ``defaultValue``) if absent."""
    if object is None:
        raise EEError("Element.get: Parameter 'object' is required.")
    value = get_property(object, str(property))
    return defaultValue if value is None else value


@algorithm("Element.set")
def element_set(object: Any, key: str, value: Any = None) -> Any:  # noqa: A002
    """A copy with one property set."""
    properties = _properties(object, "Element.set")
    properties[str(key)] = value
    return with_properties(object, properties, "Element.set")


@algorithm("Element.setMulti")
def element_set_multi(object: Any, properties: dict[str, Any]) -> Any:  # noqa: A002
    """A copy with several properties set."""
    merged = _properties(object, "Element.setMulti")
    merged.update({str(k): v for k, v in dict(properties).items()})
    return with_properties(object, merged, "Element.setMulti")


@algorithm("Element.propertyNames")
def element_property_names(element: Any) -> list[str]:
    """Property names (``system:id``/``system:version`` included for assets)."""
    names = list(_properties(element, "Element.propertyNames"))
    if isinstance(element, EEImage | EECollection):
        for key in ("system:id", "system:version"):
            if get_property(element, key) is not None and key not in names:
                names.append(key)
    return names


@algorithm("Element.toDictionary")
def element_to_dictionary(element: Any, properties: Any = None) -> dict[str, Any]:
    """The listed properties, or all non-system properties."""
    values = _properties(element, "Element.toDictionary")
    if properties is None:
        return {key: value for key, value in values.items() if not key.startswith("system:")}
    return {str(key): values[key] for key in as_list(properties) if key in values}


@algorithm("Element.copyProperties", "Image.copyProperties")
def element_copy_properties(
    destination: Any = None, source: Any = None, properties: Any = None, exclude: Any = None
) -> Any:
    """Copy (the listed, or all non-system minus ``exclude``) properties of ``source`` onto ``destination``."""
    if destination is None or source is None:
        raise EEError("Element.copyProperties: destination and source are required.")
    target = _properties(destination, "Element.copyProperties")
    values = _properties(source, "Element.copyProperties")
    if properties is not None:
        keys = [str(k) for k in as_list(properties)]
    else:
        excluded = {str(k) for k in as_list(exclude)}
        keys = [k for k in values if not k.startswith("system:") and k not in excluded]
    for key in keys:
        value = get_property(source, key)
        if value is not None:
            target[key] = value
    return with_properties(destination, target, "Element.copyProperties")
