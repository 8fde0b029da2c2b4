"""Page shells of the browser UI. Each renders a template that loads one ES module; the
data comes from the REST API (session auth), so these views only check the login and
pass ids along."""

from __future__ import annotations

import math
from typing import Any

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from annotator.services import login_guard


class LoginView(auth_views.LoginView):
    template_name = "frontend/login.html"
    redirect_authenticated_user = True
    extra_context = {"title": "Log in"}

    def get_context_data(self, **kwargs: object) -> dict[str, object]:
        return {**super().get_context_data(**kwargs), "allow_signup": settings.ALLOW_SIGNUP}

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        """A locked username or address (annotator.services.login_guard) gets the page
        again with a 429 and a message, the password unchecked; failures and successes
        are counted by the auth signals."""
        username = request.POST.get("username", "")
        wait = login_guard.locked_for(username, login_guard.client_address(request))
        if wait is None:
            return super().post(request, *args, **kwargs)
        # An unbound form: a bound one would authenticate as soon as the page asks for
        # its errors.
        form = self.get_form_class()(request, initial={"username": username})
        context = self.get_context_data(form=form, locked_minutes=math.ceil(wait / 60))
        response = self.render_to_response(context, status=429)
        response["Retry-After"] = str(wait)
        return response


class LogoutView(auth_views.LogoutView):
    """POST only (Django's rule: a GET must not log anybody out)."""


def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("frontend:projects")
    return render(
        request,
        "frontend/signup.html",
        {"title": "Sign up", "allow_signup": settings.ALLOW_SIGNUP},
    )


@login_required
def projects(request: HttpRequest) -> HttpResponse:
    return render(request, "frontend/projects.html", {"title": "Projects", "page": "projects"})


@login_required
def project(request: HttpRequest, project_id: int) -> HttpResponse:
    return render(
        request,
        "frontend/project.html",
        {"title": "Project", "page": "project", "project_id": project_id},
    )


@login_required
def dashboard(request: HttpRequest, project_id: int) -> HttpResponse:
    """The learning loop's numbers (pages/dashboard.ts draws them from the API)."""
    return render(
        request,
        "frontend/dashboard.html",
        {"title": "Dashboard", "page": "dashboard", "project_id": project_id},
    )


@login_required
def workspace(request: HttpRequest, project_id: int, asset_id: int) -> HttpResponse:
    return render(
        request,
        "frontend/workspace.html",
        {"title": "Annotate", "page": "workspace", "project_id": project_id, "asset_id": asset_id},
    )
