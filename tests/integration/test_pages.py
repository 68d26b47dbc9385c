"""The HTML users page and its sign-up form, over real HTTP."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from support.http import Served, serve_app
from support.waiting import eventually

from service.http.plumbing.page_support import CSP
from service.jobs import JobFilter

if TYPE_CHECKING:
    from pathlib import Path

SCRIPT = "<script>alert(1)</script>"


async def user_count(app: Served) -> int:
    [(count,)] = await app.state.store.query("SELECT count(*) FROM users")
    return int(count)


async def test_the_users_page_is_html_with_a_sign_up_form(tmp_path: Path) -> None:
    async with serve_app(tmp_path) as app:
        response = await app.client.get("/users")
        assert response.status_code == 200
        assert response.headers["Content-Type"] == "text/html; charset=utf-8"
        assert "default-src 'none'" in response.headers["Content-Security-Policy"]
        page = response.text
        assert page.startswith("<!doctype html>")
        assert '<form method="post" action="/users">' in page
        assert 'name="name"' in page
        assert 'name="email"' in page
        assert "No users yet." in page


async def test_the_index_links_to_the_users_page_the_dashboard_and_the_api_docs(
    tmp_path: Path,
) -> None:
    async with serve_app(tmp_path) as app:
        response = await app.client.get("/")
        assert response.status_code == 200
        assert response.headers["Content-Type"] == "text/html; charset=utf-8"
        assert response.headers["Content-Security-Policy"] == CSP
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        page = response.text
        assert page.startswith("<!doctype html>")
        links = ["/users", "/admin", "/docs", "/openapi.json"]
        assert re.findall(r'<a href="([^"]*)"', page) == links
        assert "<script" not in page
        for link in links:  # each leads to a page (the dashboard to its login) or the document
            followed = await app.client.get(link, follow_redirects=True)
            assert followed.status_code == 200, link
            if link != "/openapi.json":
                assert followed.headers["Content-Security-Policy"] == CSP
        # Nothing of the request is reflected into the page.
        odd = await app.client.get("/", params={"q": SCRIPT})
        assert odd.status_code == 200
        assert SCRIPT not in odd.text
        assert odd.text == page


async def test_names_and_emails_are_escaped_on_the_page(tmp_path: Path) -> None:
    async with serve_app(tmp_path) as app:
        created = await app.client.post(
            "/api/users", json={"name": SCRIPT, "email": "x'\"&y@example.com"})
        assert created.status_code == 422  # quotes are not plausible in an address
        created = await app.client.post(
            "/api/users", json={"name": SCRIPT + ' & "quoted"', "email": "x&y@example.com"})
        assert created.status_code == 201, created.text
        page = (await app.client.get("/users")).text
        assert SCRIPT not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &#34;quoted&#34;" in page
        assert "x&amp;y@example.com" in page


async def test_posting_the_form_creates_the_user_and_redirects_with_303(
    tmp_path: Path,
) -> None:
    async with serve_app(tmp_path, worker=True) as app:
        response = await app.client.post(
            "/users", data={"name": "Grace Hopper", "email": "grace@example.com"})
        assert response.status_code == 303, response.text
        assert response.headers["Location"] == "/users"
        page = (await app.client.get(response.headers["Location"])).text
        assert "Grace Hopper" in page
        assert "grace@example.com" in page
        assert len(await app.state.store.job_list(JobFilter(task="send_welcome_email"))) == 1

        async def welcome_shown() -> bool:
            return "yes, " in (await app.client.get("/users")).text

        assert await eventually(welcome_shown)


async def test_the_page_lists_users_newest_first(tmp_path: Path) -> None:
    async with serve_app(tmp_path) as app:
        for n in range(3):
            await app.client.post("/users", data={"name": f"User {n}",
                                                  "email": f"u{n}@example.com"})
        page = (await app.client.get("/users")).text
        assert page.index("User 2") < page.index("User 1") < page.index("User 0")


async def test_invalid_input_re_renders_the_form_with_422_and_the_problems(
    tmp_path: Path,
) -> None:
    async with serve_app(tmp_path) as app:
        response = await app.client.post(
            "/users", data={"name": '"><b>bold</b>', "email": "not-an-address"})
        assert response.status_code == 422
        assert response.headers["Content-Type"].startswith("text/html")
        page = response.text
        assert "must contain exactly one @" in page
        assert 'value="&#34;&gt;&lt;b&gt;bold&lt;/b&gt;"' in page  # refilled, escaped
        assert 'value="not-an-address"' in page
        assert "<b>bold</b>" not in page
        blank = await app.client.post("/users", data={"name": " ", "email": ""})
        assert blank.status_code == 422
        assert "must not be blank" in blank.text
        assert await user_count(app) == 0


async def test_a_name_with_a_bidi_override_is_refused_by_the_form(tmp_path: Path) -> None:
    async with serve_app(tmp_path) as app:
        response = await app.client.post(
            "/users", data={"name": "Ada\u202eecalevoL", "email": "ada@example.com"})
        assert response.status_code == 422
        assert "invisible formatting characters" in response.text
        assert await user_count(app) == 0


async def test_a_duplicate_email_in_the_form_is_shown_and_stores_nothing(
    tmp_path: Path,
) -> None:
    async with serve_app(tmp_path) as app:
        form = {"name": "Ada", "email": "ada@example.com"}
        assert (await app.client.post("/users", data=form)).status_code == 303
        again = await app.client.post("/users", data={**form, "email": "Ada@Example.com"})
        assert again.status_code == 409
        assert "already exists" in again.text
        assert "is registered already" in again.text
        assert await user_count(app) == 1
        assert len(await app.state.store.job_list(JobFilter(task="send_welcome_email"))) == 1


async def test_an_oversized_form_is_413_and_a_wrong_type_is_415(tmp_path: Path) -> None:
    async with serve_app(tmp_path, body_max_bytes="1k") as app:
        big = await app.client.post("/users", data={"name": "x" * 5000, "email": "a@b.c"})
        assert big.status_code == 413
        assert "limit" in big.text
        wrong = await app.client.post("/users", json={"name": "A", "email": "a@b.c"})
        assert wrong.status_code == 415
        assert await user_count(app) == 0
