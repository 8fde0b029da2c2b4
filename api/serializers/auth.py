"""Documented shapes of the auth answers."""

from __future__ import annotations

from rest_framework import serializers


class MeSerializer(serializers.Serializer[None]):
    id = serializers.IntegerField()
    username = serializers.CharField()


class RegisteredSerializer(MeSerializer):
    token = serializers.CharField()


class AuthTokenResponseSerializer(serializers.Serializer[None]):
    token = serializers.CharField(help_text="Send as `Authorization: Token <token>`.")
