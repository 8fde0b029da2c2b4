"""Tokens for scripts, sign-up (when enabled) and who-am-I for the browser UI.

Sign-in is throttled (``annotator.services.login_guard``): past the failure limit of a
username or an address the token endpoint answers 429 ``too_many_attempts`` with
``Retry-After``, without checking the password."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import exceptions, serializers, status
from rest_framework.authtoken.models import Token
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator.services import login_guard
from api.schema import RETRY_AFTER, errors
from api.serializers.auth import AuthTokenResponseSerializer, MeSerializer, RegisteredSerializer


class TooManyAttempts(exceptions.APIException):
    """429 with ``Retry-After`` (DRF's handler sets the header from ``wait``)."""

    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_code = "too_many_attempts"

    def __init__(self, wait: int) -> None:
        self.wait = wait
        super().__init__(
            f"too many failed sign-in attempts: try again in {wait} s", "too_many_attempts"
        )


@extend_schema_view(
    post=extend_schema(
        responses={200: AuthTokenResponseSerializer, **errors(429)}, parameters=[RETRY_AFTER]
    )
)
class TokenView(ObtainAuthToken):
    """``{"username", "password"}`` -> ``{"token"}``."""

    permission_classes = ()  # how one signs in: open to anyone

    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = request.data if isinstance(request.data, Mapping) else {}
        username = data.get("username")
        username = username if isinstance(username, str) else None
        # Refused before the password is looked at: a locked account costs no hashing.
        wait = login_guard.locked_for(username, login_guard.client_address(request))
        if wait is not None:
            raise TooManyAttempts(wait)
        # A wrong password is counted by the user_login_failed signal (login_guard).
        response = super().post(request, *args, **kwargs)
        login_guard.record_success(username)
        return response


def _username_taken() -> serializers.ValidationError:
    return serializers.ValidationError({"username": ["that username is taken"]}, "username_taken")


class RegisterSerializer(serializers.Serializer[None]):
    username = serializers.RegexField(r"^[\w.@+-]{1,150}$")
    password = serializers.CharField(write_only=True)

    def validate_username(self, value: str) -> str:
        # Unique whatever the case ("Alice" when "alice" exists); the database holds the
        # same rule (a unique index on LOWER(username), migration 0005) for races.
        if User.objects.filter(username__iexact=value).exists():
            raise serializers.ValidationError("that username is taken", code="username_taken")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # Every validator of AUTH_PASSWORD_VALIDATORS, the similarity one against the
        # username being registered.
        try:
            validate_password(attrs["password"], user=User(username=attrs["username"]))
        except DjangoValidationError as exc:
            raise serializers.ValidationError(
                {"password": list(exc.messages)}, "weak_password"
            ) from None
        return attrs


class RegisterView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list[type] = []

    @extend_schema(request=RegisterSerializer, responses={201: RegisteredSerializer, **errors(403)})
    def post(self, request: Request) -> Response:
        if not settings.ALLOW_SIGNUP:
            return Response(
                {"detail": "sign-up is disabled on this server", "code": "signup_disabled"},
                status=status.HTTP_403_FORBIDDEN,
            )
        serializer = RegisterSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        # The password is hashed (a third of a second of CPU) before the transaction:
        # on SQLite a transaction holds the database's one write lock.
        user = User(username=serializer.validated_data["username"])
        user.set_password(serializer.validated_data["password"])
        try:
            with transaction.atomic():
                user.save()
                token = Token.objects.create(user=user)
        except IntegrityError:
            # Another sign-up took the name (in any case) since it was checked.
            raise _username_taken() from None
        return Response({"id": user.pk, "username": user.username, "token": token.key}, status=201)


class MeView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses=MeSerializer)
    def get(self, request: Request) -> Response:
        return Response({"id": request.user.pk, "username": request.user.get_username()})
