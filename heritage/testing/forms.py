"""A test client that uses the pages as a person does: cookies, CSRF tokens, sign-in forms."""

from __future__ import annotations

import re

from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response

_CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


class FormClient:
    """A TestClient that keeps its cookies and the CSRF token of the last page it saw."""

    def __init__(self, app: FastAPI) -> None:
        self.client = TestClient(app, base_url="http://testserver")
        self.csrf = ""

    def get(self, path: str, **kwargs: object) -> Response:
        response = self.client.get(path, **kwargs)  # type: ignore[arg-type]
        if match := _CSRF_FIELD.search(response.text):
            self.csrf = match.group(1)
        return response

    def post(self, path: str, data: dict[str, str] | None = None, **kwargs: object) -> Response:
        form = {"csrf_token": self.csrf, **(data or {})}
        return self.client.post(path, data=form, **kwargs)  # type: ignore[arg-type]

    def sign_in(self, email: str, password: str) -> None:
        self.get("/login")
        response = self.post(
            "/login", {"email": email, "password": password}, follow_redirects=False
        )
        assert response.status_code == 303, response.text
        self.get("/dashboard")
