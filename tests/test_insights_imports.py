"""Only kb/insights imports scikit-learn, and only to rebuild: never the app, a page or --help."""

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _modules_after(code):
    script = textwrap.dedent(code) + "\nimport sys\nprint(' '.join(sorted(sys.modules)))\n"
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return set(result.stdout.split())


def test_importing_the_app_and_kb_help_do_not_import_sklearn():
    loaded = _modules_after(
        """
        from kb import create_app
        create_app({"DATABASE_URL": "sqlite://", "SECRET_KEY": "x"})
        from click.testing import CliRunner
        from kb.cli import main
        result = CliRunner().invoke(main, ["--help"])
        assert result.exit_code == 0, result.output
        result = CliRunner().invoke(main, ["themes", "--help"])
        assert result.exit_code == 0 and "rebuild" in result.output, result.output
        """
    )
    assert "sklearn" not in loaded and "scipy" not in loaded


def test_page_views_and_apis_do_not_import_sklearn(tmp_path):
    db = tmp_path / "pages.db"
    loaded = _modules_after(
        f"""
        from kb import create_app, migrations, postmortems, accounts
        from kb.db import get_session
        from kb.document import validate
        url = "sqlite:///{db}"
        migrations.upgrade("head", url=url)
        app = create_app({{"DATABASE_URL": url, "SECRET_KEY": "x", "TESTING": True,
                           "INSTANCE_PATH": "{tmp_path}"}})
        with app.app_context():
            session = get_session()
            accounts.create_user(session, "a@x.example", "admin", password="long enough pw")
            session.commit()
            _row, token = accounts.create_token(session, "a@x.example", "t")
            session.commit()
        client = app.test_client()
        headers = {{"Authorization": "Bearer " + token}}
        for path in ("/api/v1/themes", "/api/v1/similar?text=certificate",
                     "/api/v1/figures"):
            assert client.get(path, headers=headers).status_code == 200, path
        page = client.get("/sign-in").get_data(as_text=True)
        marker = 'name="csrf_token" value="'
        start = page.index(marker) + len(marker)
        csrf = page[start : page.index('"', start)]
        signed = client.post("/sign-in", data={{"email": "a@x.example",
                             "password": "long enough pw", "csrf_token": csrf}})
        assert signed.status_code == 302, signed.status_code
        for path in ("/themes", "/figures", "/figures.csv"):
            response = client.get(path)
            assert response.status_code == 200, (path, response.status_code)
        """
    )
    assert "sklearn" not in loaded
