"""Hindsight: a self-hosted knowledge base for blameless postmortems."""

from flask import Flask


def create_app(config=None):
    """Build the Flask application; `config` overrides defaults and KB_* variables."""
    import os
    from pathlib import Path

    from kb import cli, db, web
    from kb import config as settings
    from kb.hooks import worker as hooks
    from kb.search import service as search

    root = Path(__file__).resolve().parent.parent
    app = Flask(
        __name__,
        instance_path=(config or {}).get("INSTANCE_PATH")
        or os.environ.get("KB_INSTANCE_PATH")
        or str(root / "instance"),
        template_folder=str(root / "templates"),
    )
    settings.load(app, config)
    db.init_app(app)
    search.init_app(app)
    web.init_app(app)
    hooks.init_app(app)
    cli.init_app(app)
    return app
