"""OpenAPI generation (drf-spectacular) for views written the Styleguide way.

Every view nests its own ``InputSerializer`` / ``OutputSerializer``; by class name alone they
would all become the components "Input" and "Output" and overwrite each other in the schema.
Nested serializers are named after their enclosing class instead:
``RankingSubmitApi.InputSerializer`` becomes the component ``RankingSubmitApiInput``.
"""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from rest_framework import serializers


class AutoSchema(SpectacularAutoSchema):
    def get_serializer_name(self, serializer: serializers.Serializer, direction: str) -> str:
        qualified = type(serializer).__qualname__
        if "<locals>" in qualified:  # defined inside a function: the plain name is all we have
            return type(serializer).__name__
        return qualified.replace(".", "")
