import os


class Config:
    SECRET_KEY = os.getenv("SECRET_KEY", "test-secret")
    SQLALCHEMY_DATABASE_URI = os.getenv("DATABASE_URL", "sqlite:///quantify.db")
    SQLALCHEMY_TRACK_MODIFICATIONS = False
    CHIRPSTACK_API_URL = os.getenv("CHIRPSTACK_API_URL", "http://localhost:8080")
    CHIRPSTACK_API_KEY = os.getenv("CHIRPSTACK_API_KEY", "")
    CHIRPSTACK_TENANT_ID = os.getenv("CHIRPSTACK_TENANT_ID", "")
    CHIRPSTACK_PASSTHROUGH_PORT = int(os.getenv("CHIRPSTACK_PASSTHROUGH_PORT", "5"))
    # relaylink (docs/portal-integration.md, step 3): the rest comes from the settings above.
    RELAYLINK_SAFETY = os.getenv("RELAYLINK_SAFETY", '{"windows": false}')
    RELAYLINK_SCHEMA = os.getenv("RELAYLINK_SCHEMA", "relaylink")  # PostgreSQL: relaylink's tables, beside public
