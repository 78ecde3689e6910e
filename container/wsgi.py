"""What gunicorn serves: `gunicorn wsgi:app` from this folder (the image's /opt/program)."""

from app import create_app

app = create_app()
