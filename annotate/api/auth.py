"""Tokens for scripts, and who the caller is.

    TOKEN=$(curl -s -d username=admin -d password=rankforge-demo http://127.0.0.1:8000/api/v1/auth/token | jq -r .token)
    curl -H "Authorization: Token $TOKEN" http://127.0.0.1:8000/api/v1/me

The browser uses its login session instead; both work on every endpoint.
"""

from __future__ import annotations

from django.contrib.auth import authenticate
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.authtoken.models import Token
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.selectors import projects_visible_to


class AuthTokenApi(APIView):
    """POST username + password for the caller's API token (the same token every time);
    DELETE (with the token) revokes it, so the next POST issues a new one."""

    class InputSerializer(serializers.Serializer):
        username = serializers.CharField(max_length=150)
        password = serializers.CharField(max_length=4096, trim_whitespace=False, style={"input_type": "password"})

    class OutputSerializer(serializers.Serializer):
        token = serializers.CharField()
        username = serializers.CharField()
        is_staff = serializers.BooleanField()

    def get_authenticators(self):
        # The credentials are in the body: no session (and so no CSRF) on the way in.
        return [] if self.is_post() else super().get_authenticators()

    def get_permissions(self):
        return [AllowAny()] if self.is_post() else [IsAuthenticated()]

    def is_post(self) -> bool:
        # self.request is unset while the schema generator inspects the view.
        return getattr(self.request, "method", None) == "POST"

    @extend_schema(
        summary="Get an API token",
        auth=[],
        request=InputSerializer,
        responses={200: OutputSerializer},
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        # django-axes counts a failure here (per account and address, in the database) and answers 429
        # once either is over the limit (annotate/security.py).
        user = authenticate(request._request, **serializer.validated_data)
        if user is None:  # wrong password, unknown or inactive user: one answer for all
            raise serializers.ValidationError("Unable to log in with the given username and password.")
        token, _ = Token.objects.get_or_create(user=user)
        return Response(self.OutputSerializer({"token": token.key, **user_summary(user)}).data)

    @extend_schema(summary="Revoke the caller's API token", request=None, responses={204: None})
    def delete(self, request: Request) -> Response:
        Token.objects.filter(user=request.user).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


def user_summary(user) -> dict:
    return {"username": user.get_username(), "is_staff": user.is_staff}


class MeProjectSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class MeOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    is_staff = serializers.BooleanField()
    projects = MeProjectSerializer(many=True, help_text="Projects the caller may see (staff: all).")


class MeApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(summary="Who am I", responses=MeOutputSerializer)
    def get(self, request: Request) -> Response:
        projects = projects_visible_to(request.user).only("id", "name").order_by("name")
        me = {"id": request.user.pk, **user_summary(request.user), "projects": projects}
        return Response(MeOutputSerializer(me).data)
