from __future__ import annotations

from typing import Any

from rest_framework import serializers

from annotator.models import LabelClass, Membership, Project, Role
from api.serializers.fields import CodedChoiceField


class LabelSerializer(serializers.ModelSerializer[LabelClass]):
    color = serializers.RegexField(r"^#[0-9a-fA-F]{6}$", required=False)

    class Meta:
        model = LabelClass
        fields = ["id", "name", "color"]


class ProjectSerializer(serializers.ModelSerializer[Project]):
    labels = LabelSerializer(many=True, required=False)
    role = serializers.SerializerMethodField()
    num_assets = serializers.SerializerMethodField()

    class Meta:
        model = Project
        fields = ["id", "name", "description", "labels", "role", "num_assets", "created"]
        read_only_fields = ["id", "role", "created"]

    def get_role(self, project: Project) -> str | None:
        roles: dict[int, str] = self.context.get("roles", {})
        return roles.get(project.pk)

    def get_num_assets(self, project: Project) -> int:
        # Annotated on the list's rows (one query for the page); counted for one project.
        counted = getattr(project, "num_assets", None)
        return int(counted) if counted is not None else project.assets.count()

    def validate_labels(self, labels: list[dict[str, Any]]) -> list[dict[str, Any]]:
        names = [label["name"].strip() for label in labels]
        if len(set(names)) != len(names):
            raise serializers.ValidationError("label names must be unique", code="duplicate_label")
        return labels


class ProjectUpdateSerializer(serializers.ModelSerializer[Project]):
    class Meta:
        model = Project
        fields = ["name", "description"]


class MemberSerializer(serializers.ModelSerializer[Membership]):
    username = serializers.CharField(source="user.username")
    role = serializers.ChoiceField(choices=Role.choices)

    class Meta:
        model = Membership
        fields = ["id", "username", "role"]


class MemberRoleSerializer(serializers.Serializer[None]):
    # A member's new role (``PUT``/``PATCH /api/members/{id}/``).
    role = CodedChoiceField(
        choices=Role.choices,
        code="invalid_role",
        message=f"must be one of {', '.join(Role.values)}",
    )
